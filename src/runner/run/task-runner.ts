import { Injectable, Logger, Optional } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import type { DeliveryBatch } from '../../broker/broker.js';
import { AppConfig } from '../../config/app-config.js';
import type { ClaimedTask } from '../claim/claim-decisions.js';
import { TaskClaimer } from '../claim/task-claimer.js';
import { TaskFinisher } from '../finish/task-finisher.js';
import { RunnerObserver } from '../runner-observer.js';
import { WorkerSlots } from '../worker-slots.js';
import { GuardedAbort } from './run-abort.js';
import { TaskExecutor } from './task-executor.js';
import { TaskAbandoned, TaskCancelled, TaskTimeout } from './task-outcome.js';

/** One claimed task running here. */
class Running {
  /** Timeout, cancel, shutdown, a lost session, and the handler guard stop the run through it. */
  readonly abort: GuardedAbort;
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly task: ClaimedTask,
    /** The timeout timer this run shares with the runs of its batch that have the same timeout. */
    readonly timeout: SharedTimer,
  ) {
    this.abort = new GuardedAbort(() => `task ${task.id} (${task.func})`);
  }
}

interface SharedTimer {
  handle?: NodeJS.Timeout;
  runs: Running[];
  /** Runs of `runs` not ended yet: the last one to end clears the timer. */
  left: number;
}

/**
 * Runs micro-batches of deliveries: claim (one transaction), run each handler outside any
 * transaction under its timeout, finish (batched). Emits `limit` once WORKER_MAX_TASKS were claimed.
 */
@Injectable()
export class TaskRunner extends EventEmitter {
  private readonly logger = new Logger(TaskRunner.name);
  private readonly running = new Map<string, Running>();
  private claimedTotal = 0;
  private stopping = false;

  constructor(
    private readonly claimer: TaskClaimer,
    private readonly executor: TaskExecutor,
    private readonly finisher: TaskFinisher,
    private readonly slots: WorkerSlots,
    private readonly config: AppConfig,
    @Optional() private readonly observer?: RunnerObserver,
  ) {
    super();
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** The broker's batch handler: resolves, with how many tasks it took, once the claim has committed. */
  async handleBatch(batch: DeliveryBatch): Promise<number> {
    if (this.stopping) throw new Error('worker is stopping');
    // A PostgreSQL pull was sized by the capacity the broker waited for (ConsumeOptions.capacity):
    // it takes the free slots as they are now, and none is a pull of nothing. AMQP deliveries
    // (prefetch bounds them) wait here for a free slot.
    let reserved: number;
    if (batch.kind === 'pull') {
      reserved = Math.min(this.slots.free(), this.config.worker.batchSize, batch.pull.limit);
      if (reserved === 0) return 0;
    } else {
      await this.slots.wait();
      reserved = batch.refs.length;
    }
    this.slots.take(reserved);
    let claimed: { started: ClaimedTask[]; taken: number };
    try {
      claimed = await this.claimer.claim(batch, reserved, (id) => this.running.has(id));
    } catch (err) {
      this.slots.release(reserved);
      throw err;
    }
    this.observer?.claimed(claimed.taken, claimed.started.length);
    this.slots.release(reserved - claimed.started.length);
    this.startBatch(claimed.started);
    this.claimedTotal += claimed.started.length;
    const max = this.config.worker.maxTasks;
    if (max > 0 && this.claimedTotal >= max && !this.stopping) this.emit('limit', this.claimedTotal);
    return claimed.taken;
  }

  /** The ids of the tasks running here. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Resolves once no task runs here, runs started meanwhile included (each run's finish written). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Aborts a running attempt (operator cancel); false if it does not run here. */
  cancel(taskId: string): boolean {
    const run = this.running.get(taskId);
    run?.abort.abort(new TaskCancelled());
    return run !== undefined;
  }

  /** The session that held our advisory locks is gone: every running task is no longer ours. */
  abandonAll(why: string): void {
    for (const run of this.running.values()) run.abort.abort(new TaskAbandoned(why));
  }

  /** Stops taking batches; waits up to `graceMs` for running tasks, then hands the rest back. */
  async drain(graceMs: number): Promise<{ finished: number; handedBack: number }> {
    this.stopping = true;
    const before = this.running.size;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    const left = [...this.running.values()];
    for (const run of left) run.abort.abort(new TaskAbandoned('shutdown'));
    const handedBack = await this.finisher.handBack(left.map((r) => r.task));
    await Promise.all(left.map((r) => r.done));
    return { finished: before - left.length, handedBack };
  }

  /**
   * Starts a claimed batch. Runs of one batch with one timeout share one timer (a timer per task
   * was a visible share of a no-op task's cost); it aborts those of them still running.
   */
  private startBatch(tasks: ClaimedTask[]): void {
    // When the claim committed (process.hrtime), for the observer's run durations.
    const claimedAt = this.observer ? process.hrtime.bigint() : 0n;
    const timers = new Map<number, SharedTimer>();
    for (const task of tasks) {
      const ms = this.executor.timeoutMs(task);
      let timer = timers.get(ms);
      if (!timer) timers.set(ms, (timer = { runs: [], left: 0 }));
      timer.left++;
      timer.runs.push(this.start(task, timer, claimedAt));
    }
    for (const [ms, timer] of timers) {
      timer.handle = setTimeout(() => {
        for (const run of timer.runs) if (this.running.get(run.task.id) === run) run.abort.abort(new TaskTimeout(ms));
      }, ms);
    }
  }

  private start(task: ClaimedTask, timeout: SharedTimer, claimedAt: bigint): Running {
    const run = new Running(task, timeout);
    this.running.set(task.id, run);
    run.done = this.executor
      .execute(task, run.abort)
      .then((status) => {
        if (status !== undefined) this.observer?.finished(task.func, status, Number(process.hrtime.bigint() - claimedAt) / 1e9);
      })
      .catch((err: Error) => this.logger.error(`task ${task.id} (${task.func}): finish failed: ${err.message}`))
      .finally(() => {
        this.running.delete(task.id);
        if (--run.timeout.left === 0) clearTimeout(run.timeout.handle);
        this.slots.release(1);
      });
    return run;
  }
}
