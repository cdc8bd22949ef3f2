import { Injectable } from '@nestjs/common';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { FuncCatalog } from '../../src/tasks/func-catalog.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { UnknownFunc } from '../../src/tasks/tasks.errors.js';
import { clients } from '../e2e/admin-client.js';
import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, Transport, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('funcs known to the database');

/** Each handler says which app ran it: the result of each task names its app. */
const by = (app: string, ctx: TaskContext) => ({ by: app, func: ctx.func });

@Injectable()
class AppAHandlers {
  @TaskHandler('a.work')
  work(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return by('A', ctx);
  }
}

@Injectable()
class AppBHandlers {
  @TaskHandler('b.work', { queue: 'bq' })
  work(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return by('B', ctx);
  }
}

@Injectable()
class RemoteHandlers {
  @TaskHandler('p.remote', { queue: 'remote', priority: 3 })
  remote(args: { n: number }) {
    return { doubled: args.n * 2 };
  }
}

@Injectable()
class ServedHandlers {
  @TaskHandler('w.served')
  served() {
    return 'ok';
  }
}

@Injectable()
class OrphanHandlers {
  @TaskHandler('n.orphan', { version: 3 })
  orphan() {
    return 'finally';
  }
}

@Injectable()
class JobV1 {
  @TaskHandler('r.job', { version: 1 })
  job(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return by('v1', ctx);
  }
}

@Injectable()
class JobV2 {
  @TaskHandler('r.job', { version: 2 })
  job(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return by('v2', ctx);
  }
}

@Injectable()
class MovedV1 {
  @TaskHandler('m.job', { version: 1, queue: 'old' })
  job(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return by('v1', ctx);
  }
}

@Injectable()
class MovedV2 {
  @TaskHandler('m.job', { version: 2, queue: 'new' })
  job(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return by('v2', ctx);
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Several apps on one database (and, on RabbitMQ, one queue prefix), each with its own handlers:
 * they beat every second, so a start or a stop is seen within a second or two.
 */
function onOneDatabase(transport: Transport) {
  let database: { url: string; drop: () => Promise<void> };
  let prefix: string;
  const apps: TestApp[] = [];
  return {
    async open() {
      database = await createTestDatabase();
      prefix = testAmqpPrefix(database.url);
    },
    async start(handlers: (new () => unknown)[], env: Record<string, string> = {}): Promise<TestApp> {
      const app = await startTestApp({
        handlers,
        database: { url: database.url },
        env: { ROLES: 'worker', FUNC_HEARTBEAT_SECONDS: '1', DISPATCH_MIN_AGE_SECONDS: '0', ...transportEnv(transport, prefix), ...env },
      });
      apps.push(app);
      return app;
    },
    async stop(app: TestApp) {
      apps.splice(apps.indexOf(app), 1);
      await app.close();
    },
    async close() {
      for (const app of apps.splice(0)) await app.close();
      await database?.drop();
      if (transport === 'amqp' && prefix) await deleteQueues(prefix);
    },
  };
}

/** The tasks' status and result, by id. */
async function rows(app: TestApp, ids: string[]) {
  const { rows: found } = await app.db.query<{ id: string; func: string; status: string; version: number; result: unknown; broken_reason: string }>(
    `SELECT id::text AS id, func, status::text AS status, version, result, broken_reason FROM task WHERE id = ANY($1::bigint[]) ORDER BY id`,
    [ids],
  );
  return found;
}
const allSucceeded = async (app: TestApp, ids: string[]) => (await rows(app, ids)).every((r) => r.status === 'success');

describe.each(TRANSPORTS)('funcs known to the database (%s transport)', (transport) => {
  const cluster = onOneDatabase(transport);

  beforeEach(async () => {
    await cluster.open();
  });
  afterEach(async () => {
    await cluster.close();
  });

  it('two apps with different handlers on one database each run only their own funcs, and neither breaks the other', async () => {
    const a = await cluster.start([AppAHandlers]);
    const b = await cluster.start([AppBHandlers]);
    // A enqueues both: b.work is known to it only through the database (B recorded it at boot).
    const tasks = a.get(TasksService);
    const handles = await tasks.enqueueMany([
      ...range(15).map((i) => ({ func: 'a.work', args: { i } })),
      ...range(15).map((i) => ({ func: 'b.work', args: { i } })),
    ]);
    const ids = handles.map((h) => h.id);
    await waitFor(() => allSucceeded(a, ids), 'all 30 tasks to run', 30000);
    const done = await rows(a, ids);
    expect(done.filter((r) => r.func === 'a.work').map((r) => r.result)).toEqual(range(15).map(() => ({ by: 'A', func: 'a.work' })));
    expect(done.filter((r) => r.func === 'b.work').map((r) => r.result)).toEqual(range(15).map(() => ({ by: 'B', func: 'b.work' })));
    expect(done.every((r) => r.broken_reason === '')).toBe(true);
    // Each records only its own funcs, in its own queue group.
    expect(a.get(FuncCatalog).get('b.work')).toMatchObject({ local: false, queue: 'bq', served: true });
    expect(b.get(FuncCatalog).get('b.work')).toMatchObject({ local: true, served: true });
  }, 60000);

  it('a producer-only app (no handlers, no worker) enqueues a func it has no code for; a worker app runs it', async () => {
    await cluster.start([RemoteHandlers]);
    const producer = await cluster.start([], { ROLES: 'api' });
    const tasks = producer.get(TasksService);
    const handle = await tasks.enqueue('p.remote', { n: 21 });
    expect(handle).toMatchObject({ func: 'p.remote', created: true });
    // Written with the recorded func's priority and version, as a worker's own enqueue would be.
    expect((await producer.db.query('SELECT priority, version FROM task WHERE id = $1', [handle.id])).rows).toEqual([{ priority: 3, version: 0 }]);
    await waitFor(() => allSucceeded(producer, [handle.id]), 'the remote func to run');
    expect((await rows(producer, [handle.id]))[0].result).toEqual({ doubled: 42 });

    // A name nowhere is still refused, with a message saying where it looked; nothing is written.
    const refused = await tasks.enqueue('no.such.func', {}).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UnknownFunc);
    expect((refused as Error).message).toMatch(/unknown task func "no.such.func": no @TaskHandler in this process has that name, and no worker has recorded it in the database/);
    expect((await producer.db.query(`SELECT count(*)::int AS n FROM task WHERE func = 'no.such.func'`)).rows[0].n).toBe(0);
    // The admin API takes it the same way.
    const api = clients(producer);
    expect((await api.op.post('/api/tasks', { func: 'p.remote', args: { n: 5 } })).status).toBe(201);
    expect((await api.op.post('/api/tasks', { func: 'no.such.func', args: {} })).status).toBe(400);
  }, 60000);

  it('a producer-only app reads the funcs again every heartbeat: a func moved to another queue group by a new version is enqueued there', async () => {
    const v1 = await cluster.start([MovedV1]);
    const producer = await cluster.start([], { ROLES: 'api' });
    const catalog = producer.get(FuncCatalog);
    expect(catalog.get('m.job')).toMatchObject({ version: 1, queue: 'old' });
    await cluster.stop(v1);
    await cluster.start([MovedV2]);
    // No request reaches the producer meanwhile: only its own heartbeat reads the funcs again.
    await waitFor(async () => catalog.get('m.job')?.queue === 'new', "the producer to see m.job's new queue group", 10000);
    expect(catalog.get('m.job')).toMatchObject({ version: 2, served: true });
    const handle = await producer.get(TasksService).enqueue('m.job', { n: 1 });
    await waitFor(() => allSucceeded(producer, [handle.id]), 'v2 to run the task the producer enqueued', 30000);
    expect((await rows(producer, [handle.id]))[0].result).toEqual({ by: 'v2', func: 'm.job' });
  }, 60000);

  it('a func nobody serves waits (queued or pending, never broken) and the API and the metric say so; a server of it runs its tasks', async () => {
    // n.orphan is recorded by a worker that then stops: the database knows it, nobody serves it.
    const orphanage = await cluster.start([OrphanHandlers]);
    const recorded = (app: TestApp) =>
      app.db.query(`SELECT f.version, (SELECT count(*)::int FROM func_server s WHERE s.func = f.name) AS servers FROM func f WHERE f.name = 'n.orphan'`);
    expect((await recorded(orphanage)).rows).toEqual([{ version: 3, servers: 1 }]);
    await cluster.stop(orphanage);
    const main = await cluster.start([ServedHandlers], { ROLES: 'api,worker,scheduler' });
    // Its shutdown deleted its server; the func stays recorded.
    expect((await recorded(main)).rows).toEqual([{ version: 3, servers: 0 }]);
    const tasks = main.get(TasksService);
    const queued = await tasks.enqueue('n.orphan', { q: 1 });
    const pending = await tasks.enqueue('n.orphan', { p: 1 }, { queueNow: false });
    expect([queued.status, pending.status]).toEqual(['queued', 'pending']);
    // The worker here serves w.served: it runs that one and leaves the orphans alone.
    const served = await tasks.enqueue('w.served', {});
    await waitFor(() => allSucceeded(main, [served.id]), 'the served func to run');
    const report = await main.get(DispatcherService).runOnce();
    expect(report).toMatchObject({ skipped: false, errors: 0 });
    expect(report.queued.pending).toBe(0);
    expect((await rows(main, [queued.id, pending.id])).map((r) => [r.status, r.broken_reason])).toEqual([
      ['queued', ''],
      ['pending', ''],
    ]);

    const api = clients(main);
    const { body } = await api.viewer.get('/api/queues').expect(200);
    const entry = (func: string) => body.funcs.find((f: { func: string }) => f.func === func);
    expect(entry('n.orphan')).toMatchObject({ served: false, servers: [], version: 3, database: { queued: 1, pending: 1 } });
    expect(entry('w.served')).toMatchObject({ served: true, servers: [{ server: main.get(FuncCatalog).server, version: 0, lastSeen: expect.any(String) }] });
    const metrics = (await api.viewer.get('/metrics').expect(200)).text;
    expect(metrics).toContain('laterz_func_servers{func="n.orphan"} 0');
    expect(metrics).toContain('laterz_func_servers{func="w.served"} 1');

    // A server of n.orphan comes back: the queued task runs, and the dispatcher queues the pending one.
    await cluster.start([OrphanHandlers]);
    await waitFor(async () => (await main.get(FuncCatalog).refresh()).find((f) => f.name === 'n.orphan')?.served, 'n.orphan to be served');
    await waitFor(async () => {
      await main.get(DispatcherService).runOnce();
      return allSucceeded(main, [queued.id, pending.id]);
    }, 'the waiting tasks to run once a server is live', 30000);
  }, 90000);

  it('a rolling deploy: once v2 is live no v1 code runs the func, v2 re-runs v1 results, and stopping v2 lets v1 resume', async () => {
    const control = await cluster.start([], { ROLES: 'api,scheduler' });
    const tasks = control.get(TasksService);
    const v1 = await cluster.start([JobV1]);
    const first = await tasks.enqueue('r.job', { n: 0 });
    await waitFor(() => allSucceeded(control, [first.id]), 'v1 to run the first task');
    expect(await rows(control, [first.id])).toEqual([expect.objectContaining({ version: 1, result: { by: 'v1', func: 'r.job' } })]);

    const v2 = await cluster.start([JobV2]);
    await waitFor(async () => !v1.get(FuncCatalog).claimableNames().has('r.job'), 'v1 to stop claiming r.job', 10000);
    const current = (await control.get(FuncCatalog).refresh()).find((f) => f.name === 'r.job')!;
    expect(current.version).toBe(2);
    expect(current.servers.map((s) => s.version).sort()).toEqual([1, 2]);

    const later = (await tasks.enqueueMany(range(12).map((n) => ({ func: 'r.job', args: { n: n + 1 } })))).map((h) => h.id);
    await waitFor(() => allSucceeded(control, later), 'the tasks enqueued with v2 live to run', 30000);
    expect((await rows(control, later)).map((r) => [r.version, r.result])).toEqual(later.map(() => [2, { by: 'v2', func: 'r.job' }]));
    // The v1 result is outdated now: the dispatcher queues it again, and v2 runs it.
    await waitFor(async () => {
      await control.get(DispatcherService).runOnce();
      const [row] = await rows(control, [first.id]);
      return row.status === 'success' && row.version === 2;
    }, 'the v1 result to be re-run by v2', 30000);
    expect((await rows(control, [first.id]))[0].result).toEqual({ by: 'v2', func: 'r.job' });

    // Rolling back: v2 stops (its servers are deleted), v1 claims the func again at its next beat.
    await cluster.stop(v2);
    await waitFor(async () => v1.get(FuncCatalog).claimableNames().has('r.job'), 'v1 to claim r.job again', 10000);
    const after = await tasks.enqueue('r.job', { n: 100 });
    await waitFor(() => allSucceeded(control, [after.id]), 'v1 to run a task after the rollback');
    expect(await rows(control, [after.id])).toEqual([expect.objectContaining({ version: 1, result: { by: 'v1', func: 'r.job' } })]);
    expect((await control.get(FuncCatalog).refresh()).find((f) => f.name === 'r.job')).toMatchObject({ version: 1, served: true });
  }, 90000);
});
