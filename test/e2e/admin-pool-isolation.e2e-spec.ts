import { Injectable } from '@nestjs/common';
import { Client } from 'pg';
import type { Response } from 'supertest';
import { DataSource } from 'typeorm';
import { PublishOnCommit } from '../../src/tasks/publish-on-commit.js';
import { TaskAdminService } from '../../src/tasks/task-admin.service.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksModule } from '../../src/tasks/tasks.module.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { finishedTask } from '../factories/task.factory.js';
import { waitFor } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { clients, Method } from './admin-client.js';

/**
 * The API runs every statement on its own small pool under ADMIN_STATEMENT_TIMEOUT_MS: however many
 * slow requests come in, the engine's pool stays free for the workers and the health probe, and a
 * slow request ends with a 503 that says why instead of hanging. Requests are made slow by locking
 * the tables they read from a session of the test's own.
 */

@Injectable()
class Handlers {
  @TaskHandler('e2e.quick')
  quick(args: { n: number }) {
    return { n: args.n };
  }
}

const DB_POOL_SIZE = 4;
/** AdminPool's size for that DB_POOL_SIZE, and the pipeline's API pool's (sized alike). */
const ADMIN_POOL_SIZE = 2;
const TIMEOUT_MS = 1500;
/** More concurrent slow requests than both pools hold together. */
const SLOW_REQUESTS = DB_POOL_SIZE + ADMIN_POOL_SIZE + 2;

/** A deadline for what must not hang (a hang is the defect these tests look for), failing with a message that says what hung. */
const HANG_MS = 20000;
function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still no answer after ${HANG_MS} ms: ${what}`)), HANG_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const LOCK_WAITERS = `
  SELECT application_name FROM pg_stat_activity
   WHERE datname = current_database() AND wait_event_type = 'Lock' AND backend_type = 'client backend'`;

describe('the API cannot starve the engine: its own pool, a statement timeout, a clear 503', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;

  beforeAll(async () => {
    app = await startTestApp({
      handlers: [Handlers],
      env: {
        ROLES: 'api,worker',
        PIPELINE_ENABLED: 'true',
        // A collection without a root folder: nothing is walked, the pipeline's tables stay idle.
        COLLECTIONS: 'slow',
        DB_POOL_SIZE: String(DB_POOL_SIZE),
        ADMIN_STATEMENT_TIMEOUT_MS: String(TIMEOUT_MS),
        LOG_LEVEL: 'error',
      },
    });
    c = clients(app);
  });
  afterAll(async () => {
    await app?.close();
  });

  /** A session of the test's own holding ACCESS EXCLUSIVE locks on `tables` of `target`'s schema until `release()`. */
  async function lockTables(target: TestApp, tables: string[]): Promise<{ release: () => Promise<void> }> {
    const { rows } = await target.db.query<{ schema: string }>('SELECT current_schema() AS schema');
    const locker = new Client({ connectionString: (target.db as unknown as { options: { connectionString: string } }).options.connectionString });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${tables.map((t) => `"${rows[0].schema}"."${t}"`).join(', ')} IN ACCESS EXCLUSIVE MODE`);
    return {
      release: async () => {
        await locker.query('ROLLBACK').catch(() => undefined);
        await locker.end();
      },
    };
  }

  const waitersOf = async (target: TestApp) => (await target.db.query<{ application_name: string }>(LOCK_WAITERS)).rows.map((r) => r.application_name);
  const waiters = () => waitersOf(app);

  it('slow search and browse requests, more than both pools hold: /health/ready stays 200, a worker runs a task, each slow request gets a 503 naming the timeout', async () => {
    const lock = await lockTables(app, ['search_document', 'file']);
    let pending: Promise<Response>[] = [];
    try {
      pending = Array.from({ length: SLOW_REQUESTS }, (_, i) =>
        (i % 2 === 0 ? c.viewer.get('/api/collections/slow/search?q=trust') : c.viewer.get('/api/collections/slow/files?path=a')).then((r) => r),
      );
      // Every statement stuck behind the lock is the search routes', on the pipeline's API pool (full of them now).
      const stuck = await waitFor(async () => {
        const names = await waiters();
        return names.length >= ADMIN_POOL_SIZE && names;
      }, 'the slow requests to wait on the lock');
      expect(new Set(stuck)).toEqual(new Set(['laterz-pipeline-api']));

      const ready = await withDeadline(c.anon.get('/health/ready').then((r) => r), 'GET /health/ready');
      expect([ready.status, ready.body]).toEqual([200, expect.objectContaining({ status: 'ok' })]);
      const engine = app.app.select(TasksModule).get(TasksService, { strict: true });
      const task = await withDeadline(engine.enqueue('e2e.quick', { n: 7 }), 'an enqueue on the engine pool');
      expect((await finishedTask(app.db, task.id)).status).toBe('success');

      // Each slow request ends while the lock is still held: a 503 that says why, never a hang.
      const answers = await withDeadline(Promise.all(pending), 'the slow requests');
      for (const res of answers) {
        expect(res.status).toBe(503);
        expect(res.body.message).toMatch(/ADMIN_STATEMENT_TIMEOUT_MS/);
      }
    } finally {
      await lock.release();
      await Promise.allSettled(pending);
    }
    const after = await c.viewer.get('/api/collections/slow/search?q=trust');
    expect([after.status, after.body]).toEqual([200, { hits: [] }]);
  });

  it('no route of the API takes the engine pool: every route, called more times than both pools hold with every table locked, answers a 503 in bounded time while /health/ready stays 200', async () => {
    // api only: no worker whose own statements would wait on the locks too.
    const api = await startTestApp({
      handlers: [Handlers],
      env: { ROLES: 'api', PIPELINE_ENABLED: 'true', COLLECTIONS: 'slow', DB_POOL_SIZE: String(DB_POOL_SIZE), ADMIN_STATEMENT_TIMEOUT_MS: String(TIMEOUT_MS), LOG_LEVEL: 'error' },
    });
    const ac = clients(api);
    interface RouteLayer {
      route?: { path: string; methods: Record<string, boolean> };
    }
    const router = (api.app.getHttpAdapter().getInstance() as { router: { stack: RouteLayer[] } }).router;
    const routes = router.stack
      .filter((l) => l.route && !/[*{]/.test(l.route.path) && !/^\/(health\/|docs($|\/))/.test(l.route.path))
      .flatMap((l) => Object.keys(l.route!.methods).map((method) => ({ method: method as Method, path: l.route!.path.replace(/:id\b/g, '1').replace(/:name\b/g, 'slow') })));
    expect(routes.length).toBeGreaterThanOrEqual(17);
    const { rows } = await api.db.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema()`);
    let lock: { release: () => Promise<void> } | undefined;
    let pending: Promise<Response>[] = [];
    try {
      lock = await lockTables(api, rows.map((r) => r.t));
      // Bodies valid for the routes that read or write rows (a retry or cancel by filter), so they reach the database.
      pending = routes.flatMap((r) =>
        Array.from({ length: DB_POOL_SIZE + 1 }, () => ac.op.call(r.method, r.path, r.method === 'get' || r.method === 'delete' ? undefined : { collection: 'slow' }).then((res) => res)),
      );
      const stuck = await waitFor(async () => {
        const names = await waitersOf(api);
        return names.length >= ADMIN_POOL_SIZE && names;
      }, 'API statements to wait on the locks');
      // The API's own pool, or the pipeline's routes' own pool: never the engine's.
      expect([...new Set(stuck)].filter((name) => name !== 'laterz-admin' && name !== 'laterz-pipeline-api')).toEqual([]);
      const ready = await withDeadline(ac.anon.get('/health/ready').then((r) => r), 'GET /health/ready');
      expect([ready.status, ready.body]).toEqual([200, expect.objectContaining({ status: 'ok' })]);
      const answers = await withDeadline(Promise.all(pending), 'the requests to every route');
      const slow = answers.filter((res) => res.status >= 500);
      for (const res of slow) expect([res.status, (res.body as { message?: string }).message ?? res.text]).toEqual([503, expect.stringMatching(/ADMIN_STATEMENT_TIMEOUT_MS/)]);
      expect(slow.length).toBeGreaterThan(routes.length);
    } finally {
      await lock?.release();
      await Promise.allSettled(pending);
      await api.close();
    }
  });

  it('one engine per process: the api and worker roles share one TasksService, TaskAdminService and commit subscriber', async () => {
    const nest = app.app;
    const tasksServices = nest.get(TasksService, { strict: false, each: true });
    expect(tasksServices).toHaveLength(1);
    expect(tasksServices[0]).toBe(nest.select(TasksModule).get(TasksService, { strict: true }));
    expect(nest.get(TaskAdminService, { strict: false, each: true })).toHaveLength(1);
    expect(nest.get(PublishOnCommit, { strict: false, each: true })).toHaveLength(1);
    // The commit subscriber joins a DataSource at its first transactional enqueue: once, for the one engine.
    const ds = nest.get(DataSource);
    for (const n of [1, 2]) await ds.transaction((tx) => tasksServices[0].enqueue('e2e.quick', { n: 100 + n }, { tx }));
    expect(ds.subscribers.filter((s) => s instanceof PublishOnCommit)).toHaveLength(1);
  });

  it('a worker-only process with the pipeline serves no API route (the routes come with the api role and its guard)', async () => {
    const worker = await startTestApp({ handlers: [Handlers], env: { ROLES: 'worker', PIPELINE_ENABLED: 'true', COLLECTIONS: 'slow', LOG_LEVEL: 'error' } });
    try {
      const anon = clients(worker).anon;
      expect((await anon.get('/api/collections/slow/search?q=trust')).status).toBe(404);
      expect((await anon.get('/api/collections/slow/files')).status).toBe(404);
    } finally {
      await worker.close();
    }
  });
});
