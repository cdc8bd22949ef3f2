import { Injectable } from '@nestjs/common';
import { canonicalJson } from '../../src/tasks/canonical-json.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { insertDetailedTasks, insertEdges } from '../factories/scheduler.factory.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { clients, Method, snapshot } from './admin-client.js';

@Injectable()
class SecurityHandlers {
  @TaskHandler('e2e.ok')
  ok() {
    return null;
  }
}

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** Routes the app answers without a token: the health probes and the OpenAPI docs. */
const PUBLIC = /^\/(health\/|docs($|\/))/;
const READ = new Set(['get', 'head', 'options']);

/** A concrete path for a route pattern (`:id` -> an id, `:name` -> a collection). */
function concrete(path: string): string {
  return path.replace(/:id\b/g, '1').replace(/:name\b/g, 'default').replace(/:\w+/g, 'x');
}

describe('admin API security (api role, reference pipeline routes included)', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;
  let routes: { method: Method | 'head' | 'put' | 'options'; path: string }[];

  beforeAll(async () => {
    app = await startTestApp({ handlers: [SecurityHandlers], env: { ROLES: 'api', PIPELINE_ENABLED: 'true', LOG_LEVEL: 'error' } });
    c = clients(app);
    const router = (app.app.getHttpAdapter().getInstance() as { router: { stack: RouteLayer[] } }).router;
    routes = router.stack
      .filter((l) => l.route && !/[*{]/.test(l.route.path))
      .flatMap((l) => Object.keys(l.route!.methods).map((method) => ({ method: method as Method, path: l.route!.path })));
  });
  afterAll(async () => {
    await app?.close();
  });

  it('registers the routes of the issue (the table below walks whatever is registered)', () => {
    const table = routes.map((r) => `${r.method.toUpperCase()} ${r.path}`);
    for (const expected of [
      'GET /api/tasks',
      'POST /api/tasks',
      'DELETE /api/tasks',
      'POST /api/tasks/retry',
      'POST /api/tasks/cancel',
      'GET /api/tasks/:id',
      'GET /api/tasks/:id/graph',
      'GET /api/tasks/:id/progress',
      'POST /api/tasks/:id/retry',
      'POST /api/tasks/:id/cancel',
      'GET /api/queues',
      'GET /api/collections',
      'GET /api/collections/:name/stats',
      'PATCH /api/collections/:name',
      'GET /api/audit',
      'GET /metrics',
      'GET /health/live',
      'GET /health/ready',
      'GET /api/collections/:name/search',
      'POST /api/tasks/delete',
      'GET /api/schedules',
      'GET /api/schedules/:name',
      'POST /api/schedules',
      'DELETE /api/schedules/:name',
    ]) {
      expect(table).toContain(expected);
    }
  });

  it('answers no registered route but /health/* and /docs without a valid token', async () => {
    const before = await snapshot(app.db);
    let guarded = 0;
    for (const { method, path } of routes) {
      const url = concrete(path);
      if (PUBLIC.test(path)) {
        const res = await c.anon.call(method as Method, url);
        // Swagger's extra files may be missing (404); what matters is that nothing asks for a token.
        if (res.status === 401 || res.status === 403 || res.status >= 500) throw new Error(`public ${method.toUpperCase()} ${url} answered ${res.status}`);
        continue;
      }
      guarded++;
      for (const client of [c.anon, c.with('operator-looking-but-wrong-0123456789'), c.with('')]) {
        const res = await client.call(method as Method, url, method === 'get' ? undefined : {});
        if (res.status !== 401) throw new Error(`${method.toUpperCase()} ${url} answered ${res.status} without a valid token`);
        expect(res.body).toMatchObject({ statusCode: 401 });
      }
      const lowercase = await request(method as Method, url, `bearer ${'x'.repeat(30)}`);
      expect(lowercase).toBe(401);
    }
    expect(guarded).toBeGreaterThanOrEqual(17);
    expect(await snapshot(app.db)).toEqual(before);
  });

  it('lets a viewer read but not mutate: 403 on every route that is not a read, before anything is validated', async () => {
    const before = await snapshot(app.db);
    for (const { method, path } of routes) {
      if (PUBLIC.test(path)) continue;
      const res = await c.viewer.call(method as Method, concrete(path), READ.has(method) ? undefined : { anything: 'at all' });
      if (READ.has(method)) {
        if (![200, 400, 404].includes(res.status)) throw new Error(`${method.toUpperCase()} ${path} answered ${res.status} to a viewer`);
      }
      else if (res.status !== 403) throw new Error(`${method.toUpperCase()} ${path} answered ${res.status} to a viewer`);
    }
    expect(await snapshot(app.db)).toEqual(before);
  });

  it('answers 413 with a JSON message to a body over 64 KB on every route that is not a read, writing nothing', async () => {
    const before = await snapshot(app.db);
    const big = { func: 'e2e.ok', padding: 'x'.repeat(65 * 1024) };
    let mutating = 0;
    for (const { method, path } of routes) {
      if (PUBLIC.test(path) || READ.has(method)) continue;
      mutating++;
      const res = await c.op.call(method as Method, concrete(path), big);
      if (res.status !== 413) throw new Error(`${method.toUpperCase()} ${path} answered ${res.status} to a 65 KB body`);
      expect(res.body).toEqual({ statusCode: 413, error: 'Payload Too Large', message: 'the request body is over the limit of 64 KB' });
    }
    expect(mutating).toBeGreaterThanOrEqual(7);
    expect(await snapshot(app.db)).toEqual(before);
  });

  it('serves the OpenAPI document at /docs/json without a token, listing the admin routes', async () => {
    const res = await c.anon.get('/docs/json');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/api/tasks', '/api/tasks/{id}/retry', '/api/queues', '/metrics']));
    expect(res.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  async function request(method: Method, url: string, authorization: string): Promise<number> {
    const res = await c.anon.call(method, url, method === 'get' ? undefined : {}).set('Authorization', authorization);
    return res.status;
  }

  describe('hostile input to every parameter', () => {
    /** Values that must never cause a 5xx nor a write. */
    const HOSTILE: unknown[] = [
      "' OR '1'='1",
      '1; DROP TABLE task; --',
      '1) OR (1=1',
      '$1',
      '%',
      '_',
      '\u0000',
      'a\u0000b',
      '../../etc/passwd',
      '9'.repeat(30),
      '9223372036854775808',
      '-1',
      '0',
      '1.5',
      '1e308',
      'NaN',
      'Infinity',
      'true',
      '💥\u202eevil\ud800',
      'ＡＢＣ',
      ' ',
      '',
      'x'.repeat(5000),
      1e308,
      -1,
      9223372036854775808,
      1.5,
      { $gt: '' },
      { nested: { deeper: [1, { a: ['b'] }] } },
      [1, 2, 3],
      ['a', 'b'],
      [],
      {},
      null,
      true,
    ];
    /** Raw JSON bodies for what JSON.stringify cannot write. */
    const RAW = ['NaN', '1e999', '-1e999', '"\\ud800"', '{"__proto__": {"polluted": true}}', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]'];

    interface Target {
      method: Method;
      /** The path with `{param}` where a path parameter goes. */
      path: string;
      pathParams?: Record<string, string>;
      query?: Record<string, string>;
      queryFields?: string[];
      body?: Record<string, unknown>;
      bodyFields?: string[];
    }

    // Base values are valid but select nothing (an unknown collection, a missing task, an
    // unregistered func), so even a hostile value the API accepts as valid cannot change a row.
    const NOTHING = 'hostile-none';
    const TARGETS: Target[] = [
      {
        method: 'get',
        path: '/api/tasks',
        queryFields: ['collection', 'func', 'status', 'brokenReason', 'outdated', 'errorContains', 'modifiedBefore', 'sort', 'order', 'limit', 'cursor'],
      },
      { method: 'get', path: '/api/tasks/{id}', pathParams: { id: '1' } },
      { method: 'get', path: '/api/tasks/{id}/graph', pathParams: { id: '1' }, queryFields: ['depth'] },
      { method: 'get', path: '/api/tasks/{id}/progress', pathParams: { id: '1' }, queryFields: ['of'] },
      {
        method: 'post',
        path: '/api/tasks',
        body: { func: 'e2e.unregistered', args: { n: 1 } },
        bodyFields: ['func', 'collection', 'dependsOn', 'priority', 'runAfter', 'queueNow', 'retry', 'retryPolicy'],
      },
      { method: 'post', path: '/api/tasks/{id}/retry', pathParams: { id: '999999999' }, body: {}, bodyFields: ['resetFailCount'] },
      { method: 'post', path: '/api/tasks/{id}/cancel', pathParams: { id: '999999999' }, body: {} },
      {
        method: 'post',
        path: '/api/tasks/retry',
        body: { collection: NOTHING },
        bodyFields: ['collection', 'func', 'status', 'brokenReason', 'errorContains', 'modifiedBefore', 'olderThanSeconds', 'dryRun', 'resetFailCount'],
      },
      {
        method: 'post',
        path: '/api/tasks/cancel',
        body: { collection: NOTHING },
        bodyFields: ['collection', 'func', 'status', 'brokenReason', 'errorContains', 'modifiedBefore', 'olderThanSeconds', 'dryRun'],
      },
      {
        method: 'delete',
        path: '/api/tasks',
        query: { collection: NOTHING, olderThanSeconds: '60' },
        queryFields: ['collection', 'func', 'status', 'brokenReason', 'errorContains', 'modifiedBefore', 'olderThanSeconds', 'dryRun'],
      },
      { method: 'get', path: '/api/queues' },
      { method: 'get', path: '/api/collections' },
      { method: 'get', path: '/api/collections/{name}/stats', pathParams: { name: 'default' } },
      { method: 'patch', path: '/api/collections/{name}', pathParams: { name: NOTHING }, body: { process: true }, bodyFields: ['process', 'sync'] },
      { method: 'get', path: '/api/audit', queryFields: ['limit', 'cursor', 'action'] },
      { method: 'get', path: '/metrics' },
      { method: 'get', path: '/api/collections/{name}/search', pathParams: { name: 'demo' }, query: { q: 'trust' }, queryFields: ['q', 'limit'] },
      { method: 'get', path: '/api/collections/{name}/files', pathParams: { name: 'demo' }, queryFields: ['path', 'limit'] },
    ];

    /** A query string with `field` set to a hostile value: arrays repeat it, objects become bracket keys. */
    function queryWith(base: Record<string, string>, field: string, value: unknown): string {
      const parts = Object.entries(base)
        .filter(([k]) => k !== field)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
      const enc = (v: unknown) => percent(typeof v === 'string' ? v : JSON.stringify(v));
      if (Array.isArray(value)) parts.push(...(value.length ? value.map((v) => `${field}=${enc(v)}`) : [`${field}[]=`]));
      else if (value !== null && typeof value === 'object') {
        const entries = Object.entries(value);
        parts.push(...(entries.length ? entries.map(([k, v]) => `${field}[${encodeURIComponent(k)}]=${enc(v)}`) : [`${field}[]=`]));
      }
      else parts.push(`${field}=${enc(value)}`);
      return parts.join('&');
    }

    const isPlainEmpty = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;

    /** Percent-encoding that also writes a lone surrogate (as the bytes of its invalid UTF-8 form). */
    function percent(text: string): string {
      try {
        return encodeURIComponent(text);
      } catch {
        return [...text].map((ch) => (/[\ud800-\udfff]/.test(ch) ? '%ED%A0%80' : encodeURIComponent(ch))).join('');
      }
    }

    function pathWith(t: Target, override?: [string, string]): string {
      let path = t.path;
      for (const [k, v] of Object.entries(t.pathParams ?? {})) path = path.replace(`{${k}}`, percent(override && override[0] === k ? override[1] : v));
      return path;
    }

    let before: Record<string, string | number>;
    beforeAll(async () => {
      const [p, n] = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'error', error: 'kaboom', collection: 'victims', modifiedAgo: 7200 },
        { func: 'e2e.ok', status: 'broken', brokenReason: 'timeout', collection: 'victims', modifiedAgo: 7200 },
        { func: 'e2e.ok', status: 'queued', collection: 'victims' },
      ]);
      await insertEdges(app.db, [{ prev: p, next: n, name: 'in' }]);
      before = await snapshot(app.db);
    });

    it('no 5xx and nothing written, whatever goes into a path parameter, a query parameter or a body field', async () => {
      const problems: string[] = [];
      let sent = 0;
      const check = async (what: string, send: () => Promise<{ status: number; text: string }>) => {
        const res = await send();
        sent++;
        if (res.status >= 500) problems.push(`${what} -> ${res.status} ${res.text.slice(0, 200)}`);
        if (/\bat .+\.(js|ts):\d+/.test(res.text)) problems.push(`${what} -> a stack trace in the response`);
      };
      for (const t of TARGETS) {
        const atStart = await snapshot(app.db);
        const baseQuery = new URLSearchParams(t.query ?? {}).toString();
        const url = (path: string, query: string) => (query ? `${path}?${query}` : path);
        for (const value of HOSTILE) {
          const shown = JSON.stringify(value)?.slice(0, 40);
          for (const param of Object.keys(t.pathParams ?? {})) {
            if (typeof value === 'object' && value !== null) continue;
            await check(`${t.method} ${t.path} ${param}=${shown}`, () => c.op.call(t.method, url(pathWith(t, [param, String(value)]), baseQuery), t.body));
          }
          for (const field of t.queryFields ?? []) {
            await check(`${t.method} ${t.path} ?${field}=${shown}`, () => c.op.call(t.method, url(pathWith(t), queryWith(t.query ?? {}, field, value)), t.body));
          }
          for (const field of t.bodyFields ?? []) {
            await check(`${t.method} ${t.path} {${field}: ${shown}}`, () => c.op.call(t.method, url(pathWith(t), baseQuery), { ...t.body, [field]: value }));
          }
          // Unknown parameters of every kind, and a whole body that is not an object.
          await check(`${t.method} ${t.path} ?unknown=${shown}`, () => c.op.call(t.method, url(pathWith(t), queryWith(t.query ?? {}, 'unknown', value)), t.body));
          // (An empty object is a valid whole body: for a retry by filter it means "every failure".)
          if (t.body && !(isPlainEmpty(value))) {
            await check(`${t.method} ${t.path} body ${shown}`, () => c.op.call(t.method, url(pathWith(t), baseQuery)).type('json').send(JSON.stringify(value)));
          }
        }
        for (const raw of RAW) {
          for (const field of t.bodyFields ?? []) {
            const body = JSON.stringify({ ...t.body, [field]: '§' }).replace('"§"', raw);
            await check(`${t.method} ${t.path} raw {${field}: ${raw.slice(0, 20)}}`, () => c.op.call(t.method, url(pathWith(t), baseQuery)).type('json').send(body));
          }
          if (t.body) await check(`${t.method} ${t.path} raw body ${raw.slice(0, 20)}`, () => c.op.call(t.method, url(pathWith(t), baseQuery)).type('json').send(raw));
        }
        expect([t.method, t.path, await snapshot(app.db)]).toEqual([t.method, t.path, atStart]);
      }
      expect(problems).toEqual([]);
      expect(sent).toBeGreaterThan(1500);
      expect(await snapshot(app.db)).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('stores hostile args as the same JSON (a valid func: args are opaque), never answering 5xx', async () => {
      const stored: unknown[] = [];
      for (const value of HOSTILE) {
        const res = await c.op.post('/api/tasks', { func: 'e2e.ok', collection: 'hostile-args', args: value, queueNow: false });
        expect(res.status).toBeLessThan(500);
        if (res.status === 201) {
          const { rows } = await app.db.query('SELECT args FROM task WHERE id = $1', [res.body.id]);
          expect(canonicalJson(rows[0].args)).toBe(canonicalJson(value));
          stored.push(value);
        } else if (!res.body.fields?.includes('args')) {
          throw new Error(`args ${JSON.stringify(value)?.slice(0, 40)}: ${res.status} ${JSON.stringify(res.body)}`);
        }
      }
      expect(stored.length).toBeGreaterThan(HOSTILE.length / 2);
      for (const raw of RAW) {
        const res = await c.op.post('/api/tasks').type('json').send(`{"func": "e2e.ok", "collection": "hostile-args", "queueNow": false, "args": ${raw}}`);
        expect(res.status).toBeLessThan(500);
      }
      const deep = await c.op.post('/api/tasks').type('json').send(`{"func": "e2e.ok", "args": ${'['.repeat(20000)}${']'.repeat(20000)}}`);
      expect(deep.status).toBe(400);
      const { rows } = await app.db.query(`SELECT count(*)::int AS n FROM task WHERE collection <> 'hostile-args' AND collection <> 'victims' AND collection <> 'demo'`);
      expect(rows[0].n).toBe(0);
    });
  });
});
