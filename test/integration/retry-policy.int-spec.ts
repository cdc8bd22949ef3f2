import { Injectable } from '@nestjs/common';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { DueScanService } from '../../src/maintenance/due/due-scan.service.js';
import { RetryLater } from '../../src/tasks/retry-policy.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TaskRegistry } from '../../src/tasks/task-registry.js';
import { InvalidArgs, InvalidHandler, TaskBroken } from '../../src/tasks/tasks.errors.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { taskRow } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('retry policies');

/*
 * Issue 18, part 1: retry policies per func, overridable at enqueue. The app runs every role with
 * the due scan on a short timer and the dispatcher's timer out of the way (a day): a retry that
 * runs was queued by the due scan at its time, not by a dispatcher tick.
 */

/** Calls per task, in the test process (the worker runs in it). */
const calls = new Map<string, number>();
const called = (ctx: TaskContext) => {
  const n = (calls.get(ctx.taskId) ?? 0) + 1;
  calls.set(ctx.taskId, n);
  return n;
};

class Upstream503 extends Error {}

@Injectable()
class RetryHandlers {
  /** Fails its first two calls, then succeeds. */
  @TaskHandler('rp.flaky', { retry: { attempts: 3, backoff: { type: 'fixed', delay: 50 } } })
  flaky(_args: unknown, _deps: unknown, ctx: TaskContext) {
    if (called(ctx) <= 2) throw new Error('flaky upstream');
    return 'ok';
  }

  /** The default policy: a TaskBroken is permanent. */
  @TaskHandler('rp.broken')
  broken(_args: unknown, _deps: unknown, ctx: TaskContext) {
    called(ctx);
    throw new TaskBroken('bad_args', 'these args can never work');
  }

  /** Its policy retries its own broken reason `flaky_input`. */
  @TaskHandler('rp.brokenRetried', { retry: { retryBroken: ['flaky_input'], backoff: { type: 'fixed', delay: 0 } } })
  brokenRetried(_args: unknown, _deps: unknown, ctx: TaskContext) {
    if (called(ctx) === 1) throw new TaskBroken('flaky_input', 'not yet readable');
    return 'ok';
  }

  /** Asks to be retried after 50 ms, once. */
  @TaskHandler('rp.later', { retry: { retryOn: ['nothing_else'] } })
  later(_args: unknown, _deps: unknown, ctx: TaskContext) {
    if (called(ctx) === 1) throw new RetryLater(50, 'rate limited');
    return 'ok';
  }

  /** Retries only Upstream503 (by class). */
  @TaskHandler('rp.only', { retry: { attempts: 5, retryOn: [Upstream503], backoff: { type: 'fixed', delay: 0 } } })
  only(args: { kind: string }, _deps: unknown, ctx: TaskContext) {
    if (called(ctx) <= 2) throw args.kind === '503' ? new Upstream503('503') : new TypeError('a bug');
    return 'ok';
  }

  /** Outlives its timeout on its first call; the default retryBroken retries a timeout. */
  @TaskHandler('rp.slow', { timeout: '100ms', retry: { backoff: { type: 'fixed', delay: 0 } } })
  async slow(_args: unknown, _deps: unknown, ctx: TaskContext) {
    if (called(ctx) === 1) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    return 'ok';
  }
}

describe.each(TRANSPORTS)('retry policies (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  let app: TestApp;
  let tasks: TasksService;
  const row = (id: string) => taskRow(app.db, id);
  const settled = (id: string, status: string) => waitFor(async () => ((await row(id)).status === status ? row(id) : undefined), `task ${id} ${status}`, 20000);

  beforeAll(async () => {
    // Task ids start at 1 in each transport's database.
    calls.clear();
    app = await startTestApp({
      handlers: [RetryHandlers],
      // RETRY_TIERS of 0 minutes: a dispatcher that still retried by tiers would retry at once.
      env: { DUE_SCAN_INTERVAL_MS: '100', RETRY_TIERS: '0:5', DISPATCH_MIN_AGE_SECONDS: '0', ...transportEnv(transport, prefix) },
    });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  it('retries an error by its backoff until it succeeds, with no dispatcher tick', async () => {
    const { id } = await tasks.enqueue('rp.flaky', { n: 1 });
    const done = await settled(id, 'success');
    expect(done).toMatchObject({ fail_count: 2 });
    expect(calls.get(id)).toBe(3);
  });

  it("keeps a handler's TaskBroken permanent: no retry, even when the dispatcher and the due scan run", async () => {
    const { id } = await tasks.enqueue('rp.broken', { n: 1 });
    await settled(id, 'broken');
    for (let i = 0; i < 3; i++) {
      await app.get(DispatcherService).runOnce();
      await app.get(DueScanService).runOnce();
    }
    // What the ticks queued would show as a status other than broken, or as a second call.
    await app.get(DispatcherService).runOnce();
    expect(await row(id)).toMatchObject({ status: 'broken', broken_reason: 'bad_args', fail_count: 1 });
    expect(calls.get(id)).toBe(1);
  });

  it('retries a broken reason its policy lists', async () => {
    const { id } = await tasks.enqueue('rp.brokenRetried', { n: 1 });
    expect(await settled(id, 'success')).toMatchObject({ fail_count: 1 });
  });

  it('RetryLater retries after its delay, whatever retryOn says', async () => {
    const { id } = await tasks.enqueue('rp.later', { n: 1 });
    expect(await settled(id, 'success')).toMatchObject({ fail_count: 1 });
  });

  it('retryOn: the classes it names retry, other errors fail for good', async () => {
    const retried = await tasks.enqueue('rp.only', { kind: '503' });
    const final = await tasks.enqueue('rp.only', { kind: 'bug' });
    expect(await settled(retried.id, 'success')).toMatchObject({ fail_count: 2 });
    const failed = await settled(final.id, 'error');
    expect(failed).toMatchObject({ fail_count: 1 });
    const { rows } = await app.db.query(`SELECT run_after FROM task WHERE id = $1`, [final.id]);
    expect(rows[0].run_after).toBeNull();
    expect(calls.get(final.id)).toBe(1);
  });

  it('a timeout is retried by the default retryBroken', async () => {
    const { id } = await tasks.enqueue('rp.slow', { n: 1 });
    expect(await settled(id, 'success')).toMatchObject({ fail_count: 1 });
  });

  it('an enqueue overrides the policy for its task, stored with the task', async () => {
    const { id } = await tasks.enqueue('rp.flaky', { n: 2 }, { retryPolicy: { attempts: 1 } });
    expect(await settled(id, 'error')).toMatchObject({ fail_count: 1 });
    const { rows } = await app.db.query(`SELECT retry, run_after FROM task WHERE id = $1`, [id]);
    expect(rows[0]).toEqual({ retry: { attempts: 1 }, run_after: null });
    expect(calls.get(id)).toBe(1);
  });

  it('refuses a bad policy with an error that names it, and writes nothing', async () => {
    await expect(tasks.enqueue('rp.flaky', { n: 3 }, { retryPolicy: { attempts: 0 } })).rejects.toThrow(InvalidArgs);
    await expect(tasks.enqueue('rp.flaky', { n: 3 }, { retryPolicy: { backoff: { type: 'soon' } } as never })).rejects.toThrow(
      'retryPolicy.backoff.type must be fixed, linear, exponential or tiers (got "soon")',
    );
    const { rows } = await app.db.query(`SELECT count(*)::int AS n FROM task WHERE func = 'rp.flaky' AND args = '{"n":3}'`);
    expect(rows[0].n).toBe(0);
    expect(() => app.get(TaskRegistry).register({ name: 'rp.bad', retry: { attempts: 1.5 } }, 'Bad.handler', () => null)).toThrow(
      new InvalidHandler('Bad.handler: retry.attempts must be a whole number >= 1 (got 1.5)'),
    );
  });
});
