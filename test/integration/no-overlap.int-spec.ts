import { Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { DueScanService } from '../../src/maintenance/due/due-scan.service.js';
import { TaskMetrics } from '../../src/metrics/task-metrics.js';
import { WorkerSession } from '../../src/runner/worker-session.js';
import { WorkerSlots } from '../../src/runner/worker-slots.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { clients } from '../e2e/admin-client.js';
import { taskRow } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { lockHolder } from '../helpers/locks.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { ServiceProcess, startWorkerProcess, stopIfRunning, workerProcessFuncs } from '../helpers/service-process.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('no overlap');

/*
 * Issue 17: no two executions of one task at once, whatever stopped the first one (its timeout, a
 * cancel, the shutdown's hand-back, a lost session). The handlers log their own executions here,
 * in the test process (the workers run in it), outside any transaction of the task's: an overlap
 * in this log is a real one.
 */

interface Execution {
  taskId: string;
  attempt: number;
  start: number;
  end?: number;
}
const executions: Execution[] = [];

/** Attempt 1 of each task waits for its gate, deaf to its signal, until the test opens it. */
const gates = new Map<string, { open: () => void; promise: Promise<void> }>();
function gateOf(taskId: string) {
  let gate = gates.get(taskId);
  if (!gate) {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    gates.set(taskId, (gate = { open, promise }));
  }
  return gate;
}

async function execute(ctx: TaskContext): Promise<{ attempt: number }> {
  const run: Execution = { taskId: ctx.taskId, attempt: ctx.attempt, start: performance.now() };
  executions.push(run);
  try {
    if (ctx.attempt === 1) await gateOf(ctx.taskId).promise;
    return { attempt: ctx.attempt };
  } finally {
    run.end = performance.now();
  }
}

@Injectable()
class OverlapHandlers {
  /** Its first attempt ignores its signal and outlives its timeout; the next ones return at once. Its retry is due at once. */
  @TaskHandler('ov.stubborn', { timeout: '500ms', retry: { backoff: { type: 'fixed', delay: 0 } } })
  stubborn(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return execute(ctx);
  }

  /** The same with the default timeout: a cancel, the shutdown or a lost session stops it. */
  @TaskHandler('ov.deaf', { retry: { backoff: { type: 'fixed', delay: 0 } } })
  deaf(_args: unknown, _deps: unknown, ctx: TaskContext) {
    return execute(ctx);
  }
}

const executionsOf = (id: string) => executions.filter((e) => e.taskId === id);

/** Pairs of executions of one task whose times intersect. */
function overlaps(): [Execution, Execution][] {
  const found: [Execution, Execution][] = [];
  for (const [i, a] of executions.entries()) {
    for (const b of executions.slice(i + 1)) {
      if (a.taskId === b.taskId && a.start < (b.end ?? Infinity) && b.start < (a.end ?? Infinity)) found.push([a, b]);
    }
  }
  return found;
}

const APP_ENV = {
  // A failed or timed-out task is retried at the next due scan (its policy: at once); a pending one is queued at once.
  DISPATCH_MIN_AGE_SECONDS: '0',
  DEAD_TASK_AFTER_SECONDS: '1',
  SHUTDOWN_GRACE_SECONDS: '1',
};

/** laterz_abandoned_running of a worker (undefined when it has no such gauge). */
async function abandonedGauge(app: TestApp): Promise<number | undefined> {
  const m = /^laterz_abandoned_running (\d+)$/m.exec(await app.get(TaskMetrics).scrape());
  return m ? Number(m[1]) : undefined;
}

describe.each(TRANSPORTS)('no overlap: a task whose handler has not returned runs nowhere else (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  /** Enqueues, serves the API and runs the dispatcher (by runOnce); runs no task. */
  let producer: TestApp;
  let worker: TestApp | undefined;
  let other: TestApp | undefined;
  let tasks: TasksService;

  const startWorker = () =>
    startTestApp({ handlers: [OverlapHandlers], database: { url: producer.url }, env: { ROLES: 'worker', ...APP_ENV, ...transportEnv(transport, prefix) } });
  const row = (id: string) => taskRow(producer.db, id);
  /** A tick of the scheduler role: the due scan (retries whose time has come), then the dispatcher; `due`: what the scan queued. */
  const tick = async () => {
    const due = (await producer.get(DueScanService).runOnce()).queued;
    return { ...(await producer.get(DispatcherService).runOnce()), due };
  };
  const inspect = async (id: string) => (await clients(producer).viewer.get(`/api/tasks/${id}`)).body;
  /** Ticks the dispatcher until the task has succeeded and every execution of it has returned. */
  const succeeded = (id: string, what: string) =>
    waitFor(
      async () => {
        await tick();
        return (await row(id)).status === 'success' && executionsOf(id).every((e) => e.end !== undefined);
      },
      what,
      30000,
    );

  beforeAll(async () => {
    producer = await startTestApp({ handlers: [OverlapHandlers], env: { ROLES: 'api,scheduler', ...APP_ENV, ...transportEnv(transport, prefix) } });
    tasks = producer.get(TasksService);
  });
  beforeEach(async () => {
    // Task ids start at 1 in each transport's database: each test logs afresh.
    executions.length = 0;
    gates.clear();
    worker = await startWorker();
  });
  afterEach(async () => {
    for (const gate of gates.values()) gate.open();
    await worker?.close();
    await other?.close();
    worker = other = undefined;
  });
  afterAll(async () => {
    await producer?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  it('timed out: the row says timeout, but its lock and slot stay held and its retry (due at once) waits until the handler returns', async () => {
    const { id } = await tasks.enqueue('ov.stubborn', { case: 'timeout' });
    await waitFor(async () => (await row(id)).broken_reason === 'timeout', 'the timeout to be recorded');
    // Its retry is due at once: three ticks (due scan and dispatcher) while the handler still runs.
    const reports = [await tick(), await tick(), await tick()];
    // Either the second attempt started meanwhile (the defect), or the row is as the timeout left it.
    await waitFor(async () => executionsOf(id).length >= 2 || (await row(id)).status === 'broken', 'attempt 2, or the row left broken');
    // A handler that has not returned soon after its abort counts as abandoned.
    await waitFor(async () => executionsOf(id).length >= 2 || (await abandonedGauge(worker!)) === 1, 'attempt 2, or the run counted as abandoned');
    const during = {
      row: await row(id),
      holder: (await lockHolder(producer, id))?.app,
      running: (await inspect(id)).task.running,
      gauge: await abandonedGauge(worker!),
      slots: worker!.get(WorkerSlots).running,
    };
    gateOf(id).open();
    await succeeded(id, 'the retry to succeed once attempt 1 has returned');

    expect(overlaps()).toEqual([]);
    expect(executionsOf(id).map((e) => e.attempt)).toEqual([1, 2]);
    expect(reports.map((r) => r.due)).toEqual([0, 0, 0]);
    expect(during.row).toMatchObject({ status: 'broken', broken_reason: 'timeout', attempt: 1 });
    expect(during.holder).toBe('laterz-worker-session');
    expect(during.running).toEqual({ abandoned: true, attempt: 1, since: expect.any(String), worker: expect.any(String) });
    expect(during.gauge).toBe(1);
    expect(during.slots).toBe(1);
    // Once it has returned: nothing held, nothing counted.
    expect(await lockHolder(producer, id)).toBeUndefined();
    expect(await abandonedGauge(worker!)).toBe(0);
    expect((await inspect(id)).task.running).toBeNull();
  });

  it("cancelled, then retried by an operator while its handler runs on: the worker that holds its lock does not start it again", async () => {
    const { id } = await tasks.enqueue('ov.deaf', { case: 'cancel' });
    await waitFor(async () => executionsOf(id).length === 1, 'attempt 1 to start');
    const before = (await inspect(id)).task.running;
    const op = clients(producer).op;
    expect((await op.post(`/api/tasks/${id}/cancel`)).status).toBe(200);
    // The cancel has reached the run: its lock was released (the defect), or it counts as abandoned.
    await waitFor(async () => (await lockHolder(producer, id)) === undefined || (await abandonedGauge(worker!)) === 1, 'the cancel to reach the run');
    expect((await op.post(`/api/tasks/${id}/retry`, {})).status).toBe(200);
    // Delivered to the one worker, which runs it again (the defect) or hands it back to pending.
    await waitFor(async () => executionsOf(id).length >= 2 || (await row(id)).status === 'pending', 'attempt 2, or the row handed back to pending');
    const during = { row: await row(id), holder: (await lockHolder(producer, id))?.app, running: (await inspect(id)).task.running };
    gateOf(id).open();
    await succeeded(id, 'the retry to succeed once attempt 1 has returned');

    expect(overlaps()).toEqual([]);
    expect(executionsOf(id).map((e) => e.attempt)).toEqual([1, 2]);
    expect(before).toEqual({ abandoned: false, attempt: 1, since: expect.any(String), worker: expect.any(String) });
    expect(during.row).toMatchObject({ status: 'pending', attempt: 1 });
    expect(during.holder).toBe('laterz-worker-session');
    expect(during.running).toMatchObject({ abandoned: true, attempt: 1 });
  });

  it('handed back at shutdown: the stopped worker keeps its lock until the handler returns; another worker runs it only then', async () => {
    const { id } = await tasks.enqueue('ov.deaf', { case: 'shutdown' });
    await waitFor(async () => executionsOf(id).length === 1, 'attempt 1 to start');
    const sessionPid = await worker!.get(WorkerSession).pid();
    other = await startWorker();
    // SHUTDOWN_GRACE_SECONDS=1: the run outlives the grace and is handed back.
    const stopped = worker!;
    worker = undefined;
    await stopped.close();
    await waitFor(async () => executionsOf(id).length >= 2 || (await row(id)).status === 'pending', 'attempt 2, or the row handed back to pending by the other worker');
    const during = { row: await row(id), holder: (await lockHolder(producer, id))?.pid };
    gateOf(id).open();
    await succeeded(id, 'the other worker to run it once attempt 1 has returned');

    expect(overlaps()).toEqual([]);
    expect(executionsOf(id).map((e) => e.attempt)).toEqual([1, 2]);
    expect(during.holder).toBe(sessionPid);
    expect(during.row).toMatchObject({ attempt: 1, fail_count: 0 });
    // The stopped worker's session is closed once its last handler has returned.
    await waitFor(async () => (await producer.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [sessionPid])).rowCount === 0, "the stopped worker's session to close");
  });

  it('its session lost: the worker takes the lock again at once, the dispatcher does not find it dead, and it is handed back once the handler returns', async () => {
    const { id } = await tasks.enqueue('ov.deaf', { case: 'session' });
    await waitFor(async () => executionsOf(id).length === 1, 'attempt 1 to start');
    const lostPid = await worker!.get(WorkerSession).pid();
    await producer.db.query('SELECT pg_terminate_backend($1, 5000)', [lostPid]);
    const holder = await waitFor(
      async () => {
        const h = await lockHolder(producer, id);
        return h && h.pid !== lostPid ? h : undefined;
      },
      "the worker's new session to take the lock again",
    );
    // Older than DEAD_TASK_AFTER_SECONDS: without its lock, the next tick would break it as dead.
    await waitFor(async () => (await producer.db.query(`SELECT 1 FROM task WHERE id = $1 AND date_modified < now() - interval '1.5 seconds'`, [id])).rowCount === 1, 'the row to be old enough to look dead');
    const reports = [await tick(), await tick()];
    const during = { row: await row(id), gauge: await abandonedGauge(worker!) };
    gateOf(id).open();
    await succeeded(id, 'attempt 2 to succeed once attempt 1 has returned');

    expect(overlaps()).toEqual([]);
    expect(executionsOf(id).map((e) => e.attempt)).toEqual([1, 2]);
    expect(holder).toMatchObject({ app: 'laterz-worker-session', pid: await worker!.get(WorkerSession).pid() });
    expect(reports.map((r) => r.killed)).toEqual([0, 0]);
    expect(during.row).toMatchObject({ status: 'started', attempt: 1 });
    expect(during.gauge).toBe(1);
    // Handed back, not killed: the lost session is not the task's failure.
    expect(await row(id)).toMatchObject({ fail_count: 0 });
  });
});

/** The process's exit code, or 'still running' after `ms`. */
async function exitWithin(proc: ServiceProcess, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  try {
    return await Promise.race([proc.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe('no overlap: a worker whose lost session cannot take a lock again stops (worker process)', () => {
  let producer: TestApp;
  let proc: ServiceProcess | undefined;

  beforeAll(async () => {
    producer = await startTestApp({ handlers: [workerProcessFuncs('k.hang')], env: { ROLES: 'api' } });
  });
  afterAll(async () => {
    await stopIfRunning(proc);
    await producer?.close();
  });

  it('another session took the lock meanwhile: the worker logs it, and exits so that its handler stops with it', async () => {
    proc = startWorkerProcess(producer.url);
    const { id } = await producer.get(TasksService).enqueue('k.hang', {});
    await waitFor(async () => (await taskRow(producer.db, id)).status === 'started', 'k.hang to start in the worker process', 30000);
    const { rows } = await producer.db.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = 'laterz-worker-session' AND datname = current_database()`,
    );
    expect(rows).toHaveLength(1);
    // Another session takes the task's lock while the worker cannot reconnect (the database
    // refuses new connections for a moment): the worker's session is ended meanwhile.
    const thief = await producer.db.connect();
    const admin = new Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    const name = new URL(producer.url).pathname.slice(1);
    try {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      try {
        await thief.query('SELECT pg_terminate_backend($1, 5000)', [rows[0].pid]);
        await thief.query('SELECT pg_advisory_lock($1::bigint)', [id]);
      } finally {
        await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      }
      const code = await exitWithin(proc, 30000);
      const lines = proc.stdout.split('\n').filter((l) => l.includes(`task ${id} (k.hang)`) && l.includes('could not be taken again'));
      expect({ code, lines: lines.length }).toEqual({ code: 0, lines: 1 });
    } finally {
      await admin.end();
      await thief.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      thief.release();
    }
  });
});
