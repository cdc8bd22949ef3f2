import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { freePort, ServiceProcess, startNode, stopIfRunning } from '../helpers/service-process.js';

const TOKEN = 'log-test-operator-token-0123456789';
/** Values that must never reach the log, each under a name of the credential kind. */
const SECRETS = {
  token: 'S3CRET-token-aaaa',
  access_token: 'S3CRET-access-bbbb',
  api_key: 'S3CRET-key-cccc',
  client_secret: 'S3CRET-secret-dddd',
  password: 'S3CRET-password-eeee',
  Authorization: 'S3CRET-auth-ffff',
  'x-api-key': 'S3CRET-xkey-gggg',
  sessionId: 'S3CRET-session-hhhh',
};

/** The built service (dist/) as a process of its own: its real stdout is what is checked. */
describe('request log lines of the built service', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let service: ServiceProcess;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    service = startNode('dist/src/main.js', {
      DATABASE_URL: db.url,
      ROLES: 'api',
      PORT: String(port),
      ADMIN_TOKENS: `operator:${TOKEN}`,
      PIPELINE_ENABLED: 'false',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
    });
    await waitFor(async () => (await fetch(`${base}/health/live`).catch(() => undefined))?.ok, 'the service to answer', 30000);
  });
  afterAll(async () => {
    await stopIfRunning(service, 'SIGTERM');
    await db?.drop();
  });

  /** The parsed JSON lines of stdout that log a request whose URL starts with `path`. */
  const requestLines = (path: string) =>
    service.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { req?: { url?: string }; res?: { statusCode?: number } })
      .filter((l) => l.req?.url?.startsWith(path));

  it('redacts credential-like query parameters and caps the URL in the lines of 4xx answers', async () => {
    const query = new URLSearchParams({ ...SECRETS, q: 'kept', padding: 'p'.repeat(5000) }).toString();
    expect((await fetch(`${base}/api/tasks?${query}`)).status).toBe(401);
    expect((await fetch(`${base}/no/such/route?${query}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${base}/api/tasks?${query}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(400);
    // Encoded names are names too.
    expect((await fetch(`${base}/api/queues?%74oken=S3CRET-encoded-iiii&a%5Bpassword%5D=S3CRET-bracket-jjjj`)).status).toBe(401);

    const lines = await waitFor(async () => {
      const found = [...requestLines('/api/tasks'), ...requestLines('/no/such/route'), ...requestLines('/api/queues')];
      return found.length >= 4 && found;
    }, 'the four request lines');
    expect(service.stdout.split('\n').filter((l) => l.includes('S3CRET')).map((l) => l.slice(0, 400))).toEqual([]);
    for (const line of lines) {
      const url = line.req!.url!;
      expect(url.length).toBeLessThanOrEqual(600);
      if (!url.startsWith('/api/queues')) {
        expect(url).toContain('token=[redacted]');
        expect(url).toContain('q=kept');
        expect(url).toMatch(/…\(\d+ chars\)$/);
      }
    }
    expect(lines.map((l) => l.res?.statusCode).sort()).toEqual([400, 401, 401, 404]);
  });
});
