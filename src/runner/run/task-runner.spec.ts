import { jest } from '@jest/globals';
import type { DeliveryBatch } from '../../broker/broker.js';
import type { AppConfig } from '../../config/app-config.js';
import { TaskStatus } from '../../tasks/task-status.js';
import type { ClaimedTask } from '../claim/claim-decisions.js';
import type { TaskClaimer } from '../claim/task-claimer.js';
import type { TaskFinisher } from '../finish/task-finisher.js';
import type { RunnerObserver } from '../runner-observer.js';
import { WorkerSlots } from '../worker-slots.js';
import type { TaskExecutor } from './task-executor.js';
import type { GuardedAbort } from './run-abort.js';
import { TaskRunner } from './task-runner.js';

const task = (id: string): ClaimedTask => ({ id, collection: 'c', func: 'f', args: {}, attempt: 1, sizeBytes: 0, deps: {} });

/** Whether `promise` settles before the event loop turns (it waits on nothing outside this test). */
async function settlesNow<T>(promise: Promise<T>): Promise<{ settled: true; value: T } | { settled: false }> {
  const turn = new Promise<{ settled: false }>((resolve) => setImmediate(() => resolve({ settled: false })));
  return Promise.race([promise.then((value) => ({ settled: true as const, value })), turn]);
}

/**
 * A runner on its real slots, with a claimer, executor and finisher that do what the test says:
 * the claimer starts the tasks given to `claims` (or fails), each run ends when the test ends it.
 */
function setUp(concurrency: number, batchSize = 10) {
  const config = { worker: { concurrency, batchSize, maxTasks: 0 } } as unknown as AppConfig;
  const slots = new WorkerSlots(config);
  const claims: { batch: DeliveryBatch; limit: number }[] = [];
  let next: { started: ClaimedTask[]; taken: number } | Error = { started: [], taken: 0 };
  const claimer = {
    claim: async (batch: DeliveryBatch, limit: number) => {
      claims.push({ batch, limit });
      if (next instanceof Error) throw next;
      return next;
    },
  } as unknown as TaskClaimer;
  const ends = new Map<string, (status: TaskStatus | undefined) => void>();
  const executor = {
    timeoutMs: () => 60_000,
    execute: (t: ClaimedTask) => new Promise<TaskStatus | undefined>((resolve) => ends.set(t.id, resolve)),
  } as unknown as TaskExecutor;
  const finisher = { handBack: async (tasks: ClaimedTask[]) => tasks.length, keeps: () => false, release: async () => undefined } as unknown as TaskFinisher;
  const observed = { claimed: [] as [number, number][], finished: [] as [string, TaskStatus, number][] };
  const observer: RunnerObserver = {
    claimed: (delivered, started) => observed.claimed.push([delivered, started]),
    finished: (func, status, seconds) => observed.finished.push([func, status, seconds]),
  };
  const runner = new TaskRunner(claimer, executor, finisher, slots, config, observer);
  return {
    runner,
    slots,
    claims,
    observed,
    claimsNext: (result: { started: ClaimedTask[]; taken: number } | Error) => (next = result),
    end: async (id: string, status: TaskStatus | undefined) => {
      ends.get(id)!(status);
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('TaskRunner: capacity', () => {
  it('takes a pull without waiting for capacity again: the broker waited for it and sized the pull by it', async () => {
    const { runner, slots, claims, claimsNext } = setUp(5);
    slots.take(2);
    const wait = jest.spyOn(slots, 'wait');
    claimsNext({ started: [task('1')], taken: 1 });
    await expect(runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: 3 } })).resolves.toBe(1);
    expect(wait).not.toHaveBeenCalled();
    expect(claims.map((c) => c.limit)).toEqual([3]);
    // The slots reserved for rows the pull did not find are free again.
    expect(slots.running).toBe(3);
  });

  it('claims no more rows than there are free slots, and nothing (without waiting) when none is', async () => {
    const { runner, slots, claims } = setUp(3);
    slots.take(1);
    await runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: 10 } });
    expect(claims.map((c) => c.limit)).toEqual([2]);
    slots.take(2);
    const full = await settlesNow(runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: 10 } }));
    expect(full).toEqual({ settled: true, value: 0 });
    expect(claims).toHaveLength(1);
  });

  it('holds delivered refs until a slot is free (their number is bounded by the prefetch, not by the slots)', async () => {
    const { runner, slots, claims, claimsNext } = setUp(2);
    slots.take(2);
    claimsNext({ started: [task('1'), task('2'), task('3')], taken: 3 });
    const handled = runner.handleBatch({ kind: 'refs', refs: ['1', '2', '3'].map((taskId) => ({ collection: 'c', func: 'f', taskId })) });
    expect(await settlesNow(handled)).toEqual({ settled: false });
    expect(claims).toHaveLength(0);
    slots.release(1);
    await expect(handled).resolves.toBe(3);
    expect(claims.map((c) => c.limit)).toEqual([3]);
    expect(slots.running).toBe(4);
  });

  it('gives back the slots of a claim that failed', async () => {
    const { runner, slots, claimsNext } = setUp(4);
    claimsNext(new Error('connection lost'));
    await expect(runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: 4 } })).rejects.toThrow('connection lost');
    expect(slots.running).toBe(0);
  });
});

describe('TaskRunner: observer', () => {
  it('is told of each committed claim, with the deliveries taken and the tasks started', async () => {
    const { runner, observed, claimsNext } = setUp(10);
    claimsNext({ started: [task('1'), task('2')], taken: 5 });
    await runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: 5 } });
    expect(observed.claimed).toEqual([[5, 2]]);
  });

  it('is not told of a claim that failed', async () => {
    const { runner, observed, claimsNext } = setUp(10);
    claimsNext(new Error('deadlock'));
    await expect(runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: 5 } })).rejects.toThrow('deadlock');
    expect(observed.claimed).toEqual([]);
  });

  it('is told of a run whose outcome landed, with the new status and the time since its claim; not of one whose write changed nothing', async () => {
    const { runner, slots, observed, claimsNext, end } = setUp(10);
    claimsNext({ started: [task('1'), task('2')], taken: 2 });
    await runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: 2 } });
    expect(runner.runningCount).toBe(2);
    await end('1', TaskStatus.Success);
    await end('2', undefined);
    expect(observed.finished).toHaveLength(1);
    const [[func, status, seconds]] = observed.finished;
    expect([func, status]).toEqual(['f', TaskStatus.Success]);
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(runner.runningCount).toBe(0);
    expect(slots.running).toBe(0);
  });
});

/**
 * A runner whose executor races a handler the test settles (as TaskExecutor does, through the
 * run's abort), and a finisher that records what it is asked to release, hand back and relock.
 */
function withHandlers(concurrency = 4) {
  const config = { worker: { concurrency, batchSize: 10, maxTasks: 0 } } as unknown as AppConfig;
  const slots = new WorkerSlots(config);
  let next: ClaimedTask[] = [];
  const claimer = { claim: async () => ({ started: next, taken: next.length }) } as unknown as TaskClaimer;
  const handlers = new Map<string, () => void>();
  const executor = {
    timeoutMs: () => 60_000,
    execute: async (t: ClaimedTask, abort: GuardedAbort) => {
      try {
        await abort.race(new Promise<void>((resolve) => handlers.set(t.id, resolve)));
        return TaskStatus.Success;
      } catch {
        // An aborted run: its outcome is written at once, its lock kept while the handler runs.
        if (abort.handlerRunning) kept.add(t.id);
        return TaskStatus.Broken;
      }
    },
  } as unknown as TaskExecutor;
  const kept = new Set<string>();
  const log = { released: [] as string[], handedBack: [] as string[], relocked: [] as string[][] };
  let elsewhere: string[] = [];
  const finisher = {
    keeps: (id: string) => kept.has(id),
    release: async (t: ClaimedTask) => {
      if (kept.delete(t.id)) log.released.push(t.id);
    },
    handBack: async (tasks: ClaimedTask[]) => {
      log.handedBack.push(...tasks.map((t) => t.id));
      return tasks.length;
    },
    relock: async (tasks: ClaimedTask[]) => {
      log.relocked.push(tasks.map((t) => t.id));
      return tasks.filter((t) => elsewhere.includes(t.id));
    },
  } as unknown as TaskFinisher;
  const abandoned: number[] = [];
  let lost = 0;
  const observer: RunnerObserver = { claimed: () => undefined, finished: () => undefined, abandonedRunning: (n) => abandoned.push(n), lockLost: () => lost++ };
  const runner = new TaskRunner(claimer, executor, finisher, slots, config, observer);
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  return {
    runner,
    slots,
    log,
    abandoned,
    lostCount: () => lost,
    heldElsewhere: (ids: string[]) => (elsewhere = ids),
    start: async (...ids: string[]) => {
      next = ids.map(task);
      await runner.handleBatch({ kind: 'pull', pull: { funcs: [], limit: ids.length } });
    },
    settle: async (id: string) => {
      handlers.get(id)!();
      await turn();
      await turn();
    },
    turn,
  };
}

describe('TaskRunner: a handler that has not returned keeps its task locked, wherever it was given up', () => {
  it('cancelled: its outcome is written, but its slot and lock are held, and it counts as abandoned, until the handler returns', async () => {
    const { runner, slots, log, abandoned, start, settle } = withHandlers();
    await start('1', '2');
    expect(runner.cancel('1')).toBe(true);
    // Counted as abandoned once the handler has not returned within the notice period (a poll, not a sleep).
    const deadline = Date.now() + 5_000;
    while (runner.abandonedCount === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(slots.running).toBe(2);
    expect(runner.runningIds().sort()).toEqual(['1', '2']);
    expect(runner.abandonedCount).toBe(1);
    expect(log.released).toEqual([]);
    await settle('1');
    expect(log.released).toEqual(['1']);
    expect(runner.abandonedCount).toBe(0);
    expect(abandoned).toEqual([1, 0]);
    expect(runner.runningIds()).toEqual(['2']);
    expect(slots.running).toBe(1);
    await settle('2');
    expect(slots.running).toBe(0);
  });

  it('shutdown: hands back what outlives the grace, leaves its lock to the handler, and says how many have not returned', async () => {
    const { runner, log, start, settle } = withHandlers();
    await start('1');
    await expect(runner.drain(10)).resolves.toEqual({ finished: 0, handedBack: 1, unsettled: 1 });
    expect(log.handedBack).toEqual(['1']);
    expect(log.released).toEqual([]);
    const settled = runner.settled();
    await settle('1');
    await settled;
    expect(log.released).toEqual(['1']);
  });

  it('session lost: takes the locks of the handlers still running again, and hands each back once it has returned', async () => {
    const { runner, log, lostCount, start, settle, turn } = withHandlers();
    const lockLost = jest.fn();
    runner.on('lockLost', lockLost);
    await start('1', '2');
    await settle('2');
    runner.abandonAll('worker session lost: test');
    await turn();
    expect(log.relocked).toEqual([['1']]);
    expect(lockLost).not.toHaveBeenCalled();
    await settle('1');
    expect(log.handedBack).toEqual(['1']);
    expect(log.released).toEqual(['1']);
    expect(lostCount()).toBe(0);
  });

  it('session lost, and a lock held elsewhere meanwhile: counted, and `lockLost` names the task', async () => {
    const { runner, lostCount, heldElsewhere, start, settle, turn } = withHandlers();
    const lockLost = jest.fn();
    runner.on('lockLost', lockLost);
    await start('1', '2');
    heldElsewhere(['2']);
    runner.abandonAll('worker session lost: test');
    await turn();
    expect(lockLost).toHaveBeenCalledWith(['2']);
    expect(lostCount()).toBe(1);
    await settle('1');
    await settle('2');
  });
});
