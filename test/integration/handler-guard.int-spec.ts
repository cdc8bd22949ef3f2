import { Injectable } from '@nestjs/common';
import { TaskMetrics } from '../../src/metrics/task-metrics.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { waitFor } from '../helpers/databases.js';
import { FINISHED_STATUSES, finishedTask, taskRow } from '../factories/task.factory.js';
import { ServiceProcess, startWorkerProcess, stopIfRunning, workerProcessFuncs } from '../helpers/service-process.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

/** A promise with its resolve at hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The bystander's run: it has started, and may return once the test says so. */
let bystanderStarted = deferred();
let bystanderRelease = deferred();

@Injectable()
class GuardHandlers {
  @TaskHandler('g.exit-sync')
  exitSync(): never {
    process.exit(3);
  }

  @TaskHandler('g.exit-after-await')
  async exitAfterAwait(): Promise<never> {
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.resolve();
    process.exit(3);
  }

  /** Exits one microtask in: before any later turn could link the chain in some other way. */
  @TaskHandler('g.exit-next-microtask')
  async exitNextMicrotask(): Promise<never> {
    await Promise.resolve();
    process.exit(3);
  }

  @TaskHandler('g.bystander')
  async bystander(): Promise<string> {
    bystanderStarted.resolve();
    await bystanderRelease.promise;
    return 'unharmed';
  }

  @TaskHandler('g.ok')
  ok(args: { n: number }): { n: number; pid: number } {
    return { n: args.n, pid: process.pid };
  }
}

describe('handler guard: a handler cannot take its worker down (in-process worker)', () => {
  let app: TestApp;
  let tasks: TasksService;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [GuardHandlers] });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
  });

  const row = (id: string) => taskRow(app.db, id);
  const final = (id: string) => finishedTask(app.db, id);
  const exitsCounted = async () => Number(/^laterz_handler_escapes_total\{kind="exit"\} (\d+)$/m.exec(await app.get(TaskMetrics).scrape())?.[1] ?? 0);

  it.each(['g.exit-sync', 'g.exit-after-await', 'g.exit-next-microtask'])('%s: process.exit(3) fails that task (a counted try) and the worker runs the next one', async (func) => {
    bystanderStarted = deferred();
    bystanderRelease = deferred();
    const countedBefore = await exitsCounted();
    // A bystander runs in the same worker the whole time the poison task runs.
    const bystander = await tasks.enqueue('g.bystander', { beside: func });
    await bystanderStarted.promise;
    const poison = await tasks.enqueue(func, { n: 1 });
    const done = await final(poison.id);
    expect(done.status).toBe('error');
    expect(done.error).toBe('HandlerExitCalled: handler called process.exit(3)');
    expect(done.fail_count).toBe(1);
    expect(await exitsCounted()).toBe(countedBefore + 1);
    const attempts = await app.db.query('SELECT attempt, error FROM task_attempt WHERE task_id = $1', [poison.id]);
    expect(attempts.rows).toHaveLength(1);
    expect(attempts.rows[0].attempt).toBe(1);
    expect(attempts.rows[0].error).toMatch(/^HandlerExitCalled: handler called process\.exit\(3\)\n/);

    expect((await row(bystander.id)).status).toBe('started');
    bystanderRelease.resolve();
    const unharmed = await final(bystander.id);
    expect(unharmed.status).toBe('success');
    expect(unharmed.result).toBe('unharmed');
    expect(unharmed.fail_count).toBe(0);

    const next = await tasks.enqueue('g.ok', { n: func.length });
    expect((await final(next.id)).result).toEqual({ n: func.length, pid: process.pid });
  });
});

describe('handler guard: a real worker process', () => {
  let api: TestApp;
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    // This side only enqueues (ROLES=api): the tasks run in the worker process.
    api = await startTestApp({ handlers: [workerProcessFuncs('gp.exit-sync', 'gp.exit-timer', 'gp.throw-timer', 'gp.unhandled', 'gp.ok')], env: { ROLES: 'api' } });
  }, 60000);
  afterEach(async () => {
    await stopIfRunning(worker, 'SIGTERM');
    worker = undefined;
  }, 60000);
  afterAll(async () => {
    await api?.close();
  }, 60000);

  const startWorker = (guard: 'exit' | 'full') =>
    (worker = startWorkerProcess(api.url, { HANDLER_GUARD: guard }));

  const final = (proc: ServiceProcess, id: string) =>
    waitFor(
      async () => {
        const { rows } = await api.db.query('SELECT status::text, error, fail_count, result FROM task WHERE id = $1', [id]);
        if (FINISHED_STATUSES.includes(rows[0].status)) return rows[0];
        if (proc.hasExited()) throw new Error(`worker process exited (${await proc.exited})`);
        return undefined;
      },
      `task ${id} to finish`,
      30000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- worker stderr\n${proc.stderr}\n--- worker stdout\n${proc.stdout.slice(-4000)}`);
    });

  it('HANDLER_GUARD=full: exits and throws from timers and unhandled rejections fail their own tasks; the process runs on', async () => {
    const proc = startWorker('full');
    const enqueue = (func: string) => api.get(TasksService).enqueue(func, { guard: 'full' });
    const expected: Record<string, string> = {
      'gp.exit-sync': 'HandlerExitCalled: handler called process.exit(86)',
      'gp.exit-timer': 'HandlerExitCalled: handler called process.exit(87)',
      'gp.throw-timer': 'HandlerUncaught: uncaught exception in the handler: TypeError: thrown in a timer the handler set',
      'gp.unhandled': 'HandlerUncaught: unhandled rejection in the handler: RangeError: a rejection the handler left unhandled',
    };
    const handles = await Promise.all(Object.keys(expected).map(async (func) => [func, await enqueue(func)] as const));
    for (const [func, handle] of handles) {
      const done = await final(proc, handle.id);
      expect({ func, status: done.status, error: done.error, failCount: done.fail_count }).toEqual({ func, status: 'error', error: expected[func], failCount: 1 });
    }
    const ok = await final(proc, (await enqueue('gp.ok')).id);
    expect(ok.status).toBe('success');
    expect(ok.result.pid).toBe(proc.child.pid);
    expect(proc.hasExited()).toBe(false);
    // One warning per event, naming the task and func, never the args.
    const warnings = proc.stdout.split('\n').filter((l) => l.includes('the task fails, the process goes on'));
    expect(warnings).toHaveLength(4);
    expect(proc.stdout).not.toContain('"guard":"full"');
  }, 60000);

  it('HANDLER_GUARD=exit: process.exit fails the task; an exception thrown in a timer still crashes the process as without the guard', async () => {
    const proc = startWorker('exit');
    const enqueue = (func: string) => api.get(TasksService).enqueue(func, { guard: 'exit' });
    const exited = await final(proc, (await enqueue('gp.exit-sync')).id);
    expect(exited).toMatchObject({ status: 'error', error: 'HandlerExitCalled: handler called process.exit(86)', fail_count: 1 });
    expect((await final(proc, (await enqueue('gp.ok')).id)).result.pid).toBe(proc.child.pid);

    // Not attributable without an async context: Node's own behaviour, a crash with code 1.
    await enqueue('gp.throw-timer');
    expect(await proc.exited).toBe(1);
    expect(proc.stderr).toContain('TypeError: thrown in a timer the handler set');
  }, 60000);
});
