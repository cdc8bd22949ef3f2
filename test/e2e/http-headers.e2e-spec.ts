import type { Response } from 'supertest';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { clients, concretePath, Method, registeredRoutes, RegisteredRoute } from './admin-client.js';

const PUBLIC = /^\/(health\/|docs($|\/))/;

/** Headers helmet sets by default that this API keeps (CSP is checked on its own below). */
const SECURITY_HEADERS: Record<string, RegExp> = {
  'content-security-policy': /default-src 'self'/,
  'cross-origin-opener-policy': /^same-origin$/,
  'cross-origin-resource-policy': /^same-origin$/,
  'referrer-policy': /^no-referrer$/,
  'strict-transport-security': /max-age=\d+/,
  'x-content-type-options': /^nosniff$/,
  'x-frame-options': /^SAMEORIGIN$/,
};

/** The CSP's directives by name, each with its sources. */
function csp(header: string): Map<string, string[]> {
  return new Map(
    header
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0] !== '')
      .map(([name, ...sources]) => [name, sources]),
  );
}

describe('HTTP response headers: security headers everywhere, no-store on authenticated answers, /docs under the CSP', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;
  let routes: RegisteredRoute[];

  beforeAll(async () => {
    app = await startTestApp({ env: { ROLES: 'api', PIPELINE_ENABLED: 'true', LOG_LEVEL: 'error' } });
    c = clients(app);
    routes = registeredRoutes(app);
  });
  afterAll(async () => {
    await app?.close();
  });

  const problemsOf = (what: string, res: Response): string[] => {
    const problems = Object.entries(SECURITY_HEADERS)
      .filter(([name, value]) => !value.test(String(res.headers[name] ?? '')))
      .map(([name]) => `${what} (${res.status}): ${name} is ${JSON.stringify(res.headers[name])}`);
    if (res.headers['x-powered-by'] !== undefined) problems.push(`${what} (${res.status}): X-Powered-By ${res.headers['x-powered-by']}`);
    return problems;
  };

  it('sets the security headers and no X-Powered-By on every response: each route, 401, 404, 413, bad JSON, health, docs', async () => {
    const problems: string[] = [];
    for (const r of routes) {
      const path = concretePath(r.path);
      problems.push(...problemsOf(`${r.method} ${path} as operator`, await c.op.call(r.method as Method, path)));
      problems.push(...problemsOf(`${r.method} ${path} anonymous`, await c.anon.call(r.method as Method, path)));
    }
    problems.push(...problemsOf('unknown route', await c.op.get('/no/such/route')));
    problems.push(...problemsOf('413', await c.op.post('/api/tasks', { func: 'x', args: 'x'.repeat(70 * 1024) })));
    problems.push(...problemsOf('bad JSON', await c.op.post('/api/tasks').type('json').send('{"func":')));
    problems.push(...problemsOf('docs page', await c.anon.get('/docs')));
    expect(problems).toEqual([]);
  });

  it('answers every route behind the token with Cache-Control: no-store, whatever its status', async () => {
    const problems: string[] = [];
    let guarded = 0;
    for (const r of routes.filter((x) => !PUBLIC.test(x.path))) {
      guarded++;
      const path = concretePath(r.path);
      for (const [who, client] of [['operator', c.op], ['viewer', c.viewer], ['anonymous', c.anon]] as const) {
        const res = await client.call(r.method as Method, path);
        if (res.headers['cache-control'] !== 'no-store') problems.push(`${r.method} ${path} as ${who} (${res.status}): Cache-Control ${res.headers['cache-control']}`);
      }
    }
    expect(guarded).toBeGreaterThanOrEqual(17);
    expect(problems).toEqual([]);
    // The JSON of a real page, too.
    const list = await c.op.get('/api/tasks');
    expect([list.status, list.headers['cache-control']]).toEqual([200, 'no-store']);
  });

  it('serves /docs under the CSP: no inline script, every script, style and icon from this origin and there, no upgrade of plain-HTTP requests', async () => {
    const page = await c.anon.get('/docs');
    expect(page.status).toBe(200);
    const policy = csp(String(page.headers['content-security-policy']));
    // upgrade-insecure-requests would send the browser to https:// for the page's own files: an API served on plain HTTP shows a blank page.
    expect(policy.has('upgrade-insecure-requests')).toBe(false);
    expect(policy.get('script-src') ?? policy.get('default-src')).toEqual(["'self'"]);
    expect(policy.get('script-src-attr')).toEqual(["'none'"]);
    // Swagger UI writes inline styles and data: images (its icons) from its own script.
    expect(policy.get('style-src')).toEqual(expect.arrayContaining(["'self'", "'unsafe-inline'"]));
    expect(policy.get('img-src')).toEqual(expect.arrayContaining(["'self'", 'data:']));

    const html = page.text;
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThanOrEqual(3);
    const inline = scripts.filter(([, attrs, body]) => !/\bsrc=/.test(attrs) && body.trim() !== '');
    expect(inline.map(([tag]) => tag.slice(0, 80))).toEqual([]);
    const files = [
      ...scripts.map(([, attrs]) => /\bsrc=["']([^"']+)["']/.exec(attrs)![1]),
      ...[...html.matchAll(/<link\b[^>]*\bhref=["']([^"']+)["']/g)].map((m) => m[1]),
    ];
    expect(files.filter((f) => /^[a-z]+:|^\/\//i.test(f))).toEqual([]);
    for (const file of files) {
      const res = await c.anon.get(new URL(file, 'http://x/docs').pathname);
      expect([file, res.status]).toEqual([file, 200]);
    }
    // The init script carries the spec itself: no request that a CSP could refuse (connect-src) is needed to show it.
    const init = await c.anon.get('/docs/swagger-ui-init.js');
    expect(init.text).toContain('"/api/tasks"');
  });
});
