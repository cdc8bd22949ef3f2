import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { AdminTokens, AdminTokensMissing, resolveAdminTokens, tokenId } from '../../src/admin/admin-tokens.js';
import { bootstrap } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { insertDetailedTasks } from '../factories/scheduler.factory.js';
import { createTestDatabase } from '../helpers/databases.js';
import { startNode, stopIfRunning } from '../helpers/service-process.js';
import { startTestApp, TEST_TOKENS } from '../helpers/test-app.js';
import { AdminPool } from '../../src/admin/admin-pool.js';

describe('admin tokens', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'laterz-tokens-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('embedded mode without ADMIN_TOKENS: makes an operator token at first start, mode 0600, printed that once', () => {
    const config = AppConfig.fromEnv({ DATA_DIR: join(dir, 'data') });
    const printed: string[] = [];
    const first = resolveAdminTokens(config, (l) => printed.push(l));
    const file = join(dir, 'data', 'admin-token');
    const token = readFileSync(file, 'utf8').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.match(token)).toEqual({ role: 'operator', tokenId: tokenId(token) });
    expect(printed.join('\n')).toContain(token);

    printed.length = 0;
    chmodSync(file, 0o644);
    const again = resolveAdminTokens(config, (l) => printed.push(l));
    expect(again.match(token)?.role).toBe('operator');
    expect(printed.join('\n')).not.toContain(token);
    expect(printed.join('\n')).toContain(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('refuses a token file that holds no usable token', () => {
    writeFileSync(join(dir, 'admin-token'), 'short\n', { mode: 0o600 });
    expect(() => resolveAdminTokens(AppConfig.fromEnv({ DATA_DIR: dir }), () => undefined)).toThrow(/16\+ characters/);
  });

  it('with DATABASE_URL and no ADMIN_TOKENS, the api role refuses to start with a clear message', async () => {
    expect(() => resolveAdminTokens(AppConfig.fromEnv({ DATABASE_URL: 'postgres://u@h/db' }), () => undefined)).toThrow(AdminTokensMissing);
    const db = await createTestDatabase();
    try {
      const config = AppConfig.fromEnv({ DATABASE_URL: db.url, PORT: '0', LOG_LEVEL: 'error', LOG_FORMAT: 'json', PIPELINE_ENABLED: 'false' });
      await expect(bootstrap(config, { handleSignals: false })).rejects.toThrow(/the api role needs ADMIN_TOKENS when DATABASE_URL is set/);
      // As a process: exit code 1 and the message, no token anywhere.
      const proc = startNode('dist/src/main.js', { DATABASE_URL: db.url, ROLES: 'api,worker', PORT: '0', LOG_FORMAT: 'json', PIPELINE_ENABLED: 'false' });
      try {
        expect(await proc.exited).toBe(1);
        expect(proc.stderr).toMatch(/the api role needs ADMIN_TOKENS when DATABASE_URL is set: set ADMIN_TOKENS=operator:<token>/);
      } finally {
        await stopIfRunning(proc);
      }
    } finally {
      await db.drop();
    }
  });

  it('roles without api start without tokens, and serve no admin route', async () => {
    const app = await startTestApp({ env: { ROLES: 'worker,scheduler', ADMIN_TOKENS: '', LOG_LEVEL: 'error' } });
    try {
      const server = app.app.getHttpServer();
      expect((await request(server).get('/health/live')).status).toBe(200);
      expect((await request(server).get('/api/tasks')).status).toBe(404);
      expect((await request(server).get('/metrics')).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('matches tokens by their digest in constant time and tells tokens apart by a short id', () => {
    const tokens = new AdminTokens([
      { role: 'operator', token: 'operator-token-0123456789' },
      { role: 'viewer', token: 'viewer-token-0123456789ab' },
    ]);
    expect(tokens.match('operator-token-0123456789')?.role).toBe('operator');
    expect(tokens.match('viewer-token-0123456789ab')?.role).toBe('viewer');
    for (const wrong of ['', 'operator-token-012345678', 'operator-token-0123456789 ', 'x'.repeat(10000), 'OPERATOR-TOKEN-0123456789']) {
      expect(tokens.match(wrong)).toBeUndefined();
    }
    expect(tokenId('operator-token-0123456789')).toMatch(/^[0-9a-f]{10}$/);
    expect(tokenId('operator-token-0123456789')).not.toBe(tokenId('viewer-token-0123456789ab'));
  });
});

describe('statement timeout of the admin API', () => {
  it('cuts off a statement that runs past ADMIN_STATEMENT_TIMEOUT_MS with a 503, writing nothing', async () => {
    const app = await startTestApp({ env: { ROLES: 'api', ADMIN_STATEMENT_TIMEOUT_MS: '200', LOG_LEVEL: 'fatal' } });
    const holder = await app.db.connect();
    try {
      const [id] = await insertDetailedTasks(app.db, [{ func: 'e2e.any', status: 'pending' }]);
      const settings = await app.get(AdminPool).db.rows<{ statement_timeout: string }>({ text: 'SHOW statement_timeout' }, []);
      expect(settings[0].statement_timeout).toBe('200ms');
      // Another transaction holds the row: the cancel waits for its lock until the timeout ends it.
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM task WHERE id = $1 FOR UPDATE', [id]);
      const started = Date.now();
      const res = await request(app.app.getHttpServer()).post(`/api/tasks/${id}/cancel`).set('Authorization', `Bearer ${TEST_TOKENS.operator}`);
      expect(res.status).toBe(503);
      expect(res.body.message).toMatch(/ADMIN_STATEMENT_TIMEOUT_MS/);
      expect(Date.now() - started).toBeLessThan(3000);
      await holder.query('ROLLBACK');
      expect((await app.db.query('SELECT status::text AS status FROM task WHERE id = $1', [id])).rows[0].status).toBe('pending');
      expect((await app.db.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n).toBe(0);
    } finally {
      holder.release();
      await app.close();
    }
  });
});
