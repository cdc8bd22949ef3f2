import { Injectable } from '@nestjs/common';
import { Broker } from '../../src/broker/broker.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { waitFor } from '../helpers/databases.js';
import { ServiceProcess, startWorkerProcess, stopIfRunning, workerProcessFuncs } from '../helpers/service-process.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';
import { testAmqpPrefix } from '../helpers/scratch.js';

noteSkippedAmqp('worker options');

/** Task ids in the order their handlers ran, per func. */
const ran = new Map<string, string[]>();
const record = (ctx: TaskContext) => ran.set(ctx.func, [...(ran.get(ctx.func) ?? []), ctx.taskId]);

@Injectable()
class OptionHandlers {
  @TaskHandler('opt.prio')
  prio(_args: unknown, _deps: unknown, ctx: TaskContext) {
    record(ctx);
  }

  @TaskHandler('opt.a', { queue: 'qa' })
  a(_args: unknown, _deps: unknown, ctx: TaskContext) {
    record(ctx);
  }

  @TaskHandler('opt.b', { queue: 'qb' })
  b(_args: unknown, _deps: unknown, ctx: TaskContext) {
    record(ctx);
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The process's exit code, or a failure after `ms`. */
function exitWithin(proc: ServiceProcess, ms: number): Promise<number | string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker process did not exit within ${ms} ms:\n${proc.stderr}\n${proc.stdout.slice(-4000)}`)), ms);
    void proc.exited.then((code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe.each(TRANSPORTS)('worker options (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  /** Enqueues and publishes; runs no task (ROLES=api). */
  let producer: TestApp;
  let worker: TestApp | undefined;

  const startWorker = async (env: Record<string, string>) => {
    worker = await startTestApp({
      handlers: [OptionHandlers],
      database: { url: producer.url },
      env: { ROLES: 'worker', ...transportEnv(transport, prefix), ...env },
    });
    return worker;
  };
  const statuses = async (ids: string[]) =>
    (await producer.db.query<{ status: string }>(`SELECT status::text AS status FROM task WHERE id = ANY($1::bigint[])`, [ids])).rows.map((r) => r.status);
  const allSucceeded = async (ids: string[]) => (await statuses(ids)).every((s) => s === 'success');

  beforeAll(async () => {
    ran.clear();
    producer = await startTestApp({ handlers: [OptionHandlers], env: { ROLES: 'api', ...transportEnv(transport, prefix) } });
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });
  afterAll(async () => {
    await producer?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  it('runs higher priorities first: 8 tasks at priority 0 enqueued before 8 at 9, the 9s run first', async () => {
    const tasks = producer.get(TasksService);
    const low = (await tasks.enqueueMany(range(8).map((i) => ({ func: 'opt.prio', args: { low: i }, priority: 0 })))).map((h) => h.id);
    const high = (await tasks.enqueueMany(range(8).map((i) => ({ func: 'opt.prio', args: { high: i }, priority: 9 })))).map((h) => h.id);
    // All sixteen wait in the queue before any worker consumes it.
    const depth = await producer.app.get(Broker).depth({ func: 'opt.prio', queue: 'default' });
    expect(depth.ready).toBe(16);

    // One task at a time, a prefetch of two: priorities decide what comes next.
    await startWorker({ WORKER_CONCURRENCY: '1', WORKER_BATCH_SIZE: '2' });
    await waitFor(async () => allSucceeded([...low, ...high]), 'all sixteen to run');
    const order = ran.get('opt.prio')!;
    expect(order).toHaveLength(16);
    expect([...order.slice(0, 8)].sort()).toEqual([...high].sort());
    expect([...order.slice(8)].sort()).toEqual([...low].sort());
  });

  it('WORKER_QUEUES=qa serves only the funcs of queue qa', async () => {
    const tasks = producer.get(TasksService);
    // qb's tasks first: a worker that served every queue would take them first.
    const b = (await tasks.enqueueMany(range(5).map((i) => ({ func: 'opt.b', args: { i } })))).map((h) => h.id);
    const a = (await tasks.enqueueMany(range(5).map((i) => ({ func: 'opt.a', args: { i } })))).map((h) => h.id);

    await startWorker({ WORKER_QUEUES: 'qa' });
    await waitFor(async () => allSucceeded(a), "qa's tasks to run");
    expect(ran.get('opt.b')).toBeUndefined();
    expect(await statuses(b)).toEqual(b.map(() => 'queued'));
    // On RabbitMQ their messages still wait in qb's queue.
    if (transport === 'amqp') expect((await producer.app.get(Broker).depth({ func: 'opt.b', queue: 'qb' })).ready).toBe(5);

    // A worker of every queue runs them.
    await worker!.close();
    await startWorker({});
    await waitFor(async () => allSucceeded(b), "qb's tasks to run once a worker serves qb");
    expect([...ran.get('opt.b')!].sort()).toEqual([...b].sort());
  });
});

describe.each(TRANSPORTS)('WORKER_MAX_TASKS (%s transport)', (transport) => {
  const BATCH = 2;
  const prefix = testAmqpPrefix();
  let producer: TestApp;
  const procs: ServiceProcess[] = [];

  beforeAll(async () => {
    producer = await startTestApp({ handlers: [workerProcessFuncs('gp.ok')], env: { ROLES: 'api', ...transportEnv(transport, prefix) } });
  });
  afterAll(async () => {
    for (const proc of procs) await stopIfRunning(proc);
    await producer?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  const workerEnv = (env: Record<string, string>) => ({
    LOG_LEVEL: 'info',
    WORKER_CONCURRENCY: '2',
    WORKER_BATCH_SIZE: String(BATCH),
    ...(transport === 'amqp' ? { AMQP_URL: process.env.AMQP_URL!, AMQP_PREFIX: prefix } : {}),
    ...env,
  });
  const results = async () =>
    (await producer.db.query<{ id: string; status: string; pid: number | null }>(`SELECT id::text AS id, status::text AS status, (result->>'pid')::int AS pid FROM task ORDER BY task.id`))
      .rows;

  it('a worker exits gracefully after N tasks, none lost: another worker runs the rest', async () => {
    const MAX = 5;
    const ids = (await producer.get(TasksService).enqueueMany(range(20).map((i) => ({ func: 'gp.ok', args: { i } })))).map((h) => h.id);

    const first = startWorkerProcess(producer.url, workerEnv({ WORKER_MAX_TASKS: String(MAX) }));
    procs.push(first);
    const code = await exitWithin(first, 30000);
    expect({ code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toContain('(WORKER_MAX_TASKS): stopping');

    // Nothing left running or half-done: each task ran here or waits for another worker.
    const after = await results();
    expect(after.filter((r) => !['success', 'queued'].includes(r.status))).toEqual([]);
    const byFirst = after.filter((r) => r.status === 'success');
    // The limit is checked after each claim, and a batch is claimed whole.
    expect(byFirst.length).toBeGreaterThanOrEqual(MAX);
    expect(byFirst.length).toBeLessThanOrEqual(MAX + BATCH - 1);
    expect(new Set(byFirst.map((r) => r.pid))).toEqual(new Set([first.child.pid]));

    const second = startWorkerProcess(producer.url, workerEnv({}));
    procs.push(second);
    await waitFor(async () => (await results()).every((r) => r.status === 'success'), 'the second worker to run the rest', 30000);
    const end = await results();
    expect(end.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(end.filter((r) => r.pid === second.child.pid)).toHaveLength(ids.length - byFirst.length);
    // Each task ran once: none started twice, none handed to both workers.
    const { rows } = await producer.db.query<{ attempt: number }>(`SELECT DISTINCT attempt FROM task`);
    expect(rows).toEqual([{ attempt: 1 }]);
    await stopIfRunning(second, 'SIGTERM');
  });
});

describe('WORKER_MAX_MEMORY_MB (issue 17: recycling)', () => {
  let producer: TestApp;
  let worker: ServiceProcess | undefined;
  beforeAll(async () => {
    producer = await startTestApp({ handlers: [workerProcessFuncs('gp.ok')], env: { ROLES: 'api' } });
  });
  afterAll(async () => {
    await stopIfRunning(worker);
    await producer?.close();
  });

  it('a worker above its memory mark exits gracefully (code 0) after its running tasks, none lost', async () => {
    const ids = (await producer.get(TasksService).enqueueMany(range(5).map((i) => ({ func: 'gp.ok', args: { i } })))).map((h) => h.id);
    // Any Node process is above 1 MiB: it stops at the first look, within a few seconds.
    worker = startWorkerProcess(producer.url, { LOG_LEVEL: 'info', WORKER_MAX_MEMORY_MB: '1' });
    const code = await exitWithin(worker, 30000);
    expect({ code, stderr: worker.stderr }).toEqual({ code: 0, stderr: '' });
    expect(worker.stdout).toMatch(/resident memory \d+ MiB \(WORKER_MAX_MEMORY_MB 1\): stopping so the supervisor restarts this worker/);
    const { rows } = await producer.db.query<{ status: string }>(`SELECT status::text AS status FROM task WHERE id = ANY($1::bigint[])`, [ids]);
    expect(rows.filter((r) => !['success', 'queued'].includes(r.status))).toEqual([]);
  });
});
