import { Injectable, Logger, Optional } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeliveryBatch } from '../../broker/broker.js';
import { AppConfig } from '../../config/app-config.js';
import type { ClaimedTask } from '../claim/claim-decisions.js';
import { HeldHere, TaskClaimer } from '../claim/task-claimer.js';
import { TaskFinisher } from '../finish/task-finisher.js';
import { RunnerObserver } from '../runner-observer.js';
import { WorkerSlots } from '../worker-slots.js';
import { GuardedAbort } from './run-abort.js';
import { TaskExecutor } from './task-executor.js';
import { TaskAbandoned, TaskCancelled, TaskTimeout } from './task-outcome.js';

/** How long an aborted handler has to return before it counts as abandoned (logged, laterz_abandoned_running). */
const ABANDON_NOTICE_MS = 250;
/** Retries of taking a lost session's locks again: the first after this, doubling up to the max. */
const RELOCK_RETRY_MS = 250;
const RELOCK_RETRY_MAX_MS = 5000;

/** One claimed task running here. */
class Running {
  /** Timeout, cancel, shutdown, a lost session, and the handler guard stop the run through it. */
  readonly abort: GuardedAbort;
  /** Its outcome written (or the run given up); an aborted handler may still run. */
  finished: Promise<void> = Promise.resolve();
  /** The run is over here: outcome written, handler returned, its lock and slot released. */
  done: Promise<void> = Promise.resolve();
  /** Its session was lost while it ran: handed back once its handler has returned. */
  lost = false;

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
 *
 * No overlap: a run stays here, holding its task's advisory lock and its slot, until its handler
 * has returned, even when its outcome was written before (a timeout, a cancel, the handler guard)
 * or it was given up (shutdown, a lost session): an abort cannot stop a handler deaf to its
 * signal, and the lock is what keeps every claim (here too: see TaskClaimer) from starting the
 * task again. After a lost session the locks are taken again; one another session took meanwhile
 * is an overlap this process can only end by exiting: `lockLost` is emitted (WorkerService stops).
 */
@Injectable()
export class TaskRunner extends EventEmitter {
  private readonly logger = new Logger(TaskRunner.name);
  /** Every run whose lock the session holds: running, or given up while its handler runs on. */
  private readonly running = new Map<string, Running>();
  private claimedTotal = 0;
  private stopping = false;
  /** Runs given up whose handlers have not returned (laterz_abandoned_running). */
  private abandoned = 0;
  private relocking?: Promise<void>;
  private relockWanted = false;
  private readonly heldHere: HeldHere = {
    running: () => {
      const ids: string[] = [];
      for (const run of this.running.values()) if (run.abort.handlerRunning) ids.push(run.task.id);
      return ids;
    },
    holds: (id) => this.running.has(id),
  };

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
      claimed = await this.claimer.claim(batch, reserved, this.heldHere);
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

  /** The ids of the tasks running here (given up ones whose handlers run on included). */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** How many runs here are given up while their handlers have not returned. */
  get abandonedCount(): number {
    return this.abandoned;
  }

  /** Resolves once no task runs here, runs started meanwhile included (each run's finish written, its handler returned). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Aborts a running attempt (operator cancel); false if it does not run here. */
  cancel(taskId: string): boolean {
    const run = this.running.get(taskId);
    run?.abort.abort(new TaskCancelled());
    return run !== undefined;
  }

  /**
   * The session that held our advisory locks is gone: every running task is given up (its signal
   * aborted; handed back once its handler has returned), and the locks of the handlers that have
   * not returned are taken again on the new session.
   */
  abandonAll(why: string): void {
    for (const run of this.running.values()) {
      run.lost = true;
      run.abort.abort(new TaskAbandoned(why));
    }
    this.relockWanted = true;
    this.relocking ??= this.relock().finally(() => (this.relocking = undefined));
  }

  /**
   * Stops taking batches; waits up to `graceMs` for running tasks, then hands the rest back (their
   * locks held until their handlers return). `unsettled`: runs whose handlers have not returned yet.
   */
  async drain(graceMs: number): Promise<{ finished: number; handedBack: number; unsettled: number }> {
    this.stopping = true;
    // Runs already given up were told to stop: the grace is for those still working.
    const working = [...this.running.values()].filter((r) => !r.abort.aborted);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(working.map((r) => r.done)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    const left = [...this.running.values()].filter((r) => !r.abort.aborted);
    for (const run of left) run.abort.abort(new TaskAbandoned('shutdown'));
    const handedBack = await this.finisher.handBack(left.map((r) => r.task));
    await Promise.all(left.map((r) => r.finished));
    return { finished: working.length - left.length, handedBack, unsettled: this.running.size };
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
    run.finished = this.executor.execute(task, run.abort).then(
      (status) => {
        if (status !== undefined) this.observer?.finished(task.func, status, Number(process.hrtime.bigint() - claimedAt) / 1e9);
      },
      (err: Error) => this.logger.error(`task ${task.id} (${task.func}): finish failed: ${err.message}`),
    );
    run.done = run.finished
      .then(() => {
        if (--run.timeout.left === 0) clearTimeout(run.timeout.handle);
        // Most runs end here: handler returned, lock released with the finish.
        if (run.abort.handlerRunning || run.lost || this.finisher.keeps(task.id)) return this.release(run);
      })
      .finally(() => {
        // A new attempt of the task may have started here meanwhile (its handler returned first).
        if (this.running.get(task.id) === run) this.running.delete(task.id);
        this.slots.release(1);
      });
    return run;
  }

  /** The end of a run whose handler may still run: waits for it, then hands back (a lost session's) and unlocks. */
  private async release(run: Running): Promise<void> {
    const { task } = run;
    const name = `task ${task.id} (${task.func}) attempt ${task.attempt}`;
    // A handler that heeds its signal has mostly returned soon after the abort (an isolated one
    // hears of it through a message): only one that has not by then is said to be abandoned.
    if (run.abort.handlerRunning) await Promise.race([run.abort.whenHandlerSettled(), sleep(ABANDON_NOTICE_MS, undefined, { ref: false })]);
    if (run.abort.handlerRunning) {
      const why = run.abort.reason instanceof Error ? run.abort.reason.message : 'given up';
      this.logger.warn(`${name}: ${why}, but its handler has not returned: its lock and slot stay held until it does`);
      this.countAbandoned(1);
      const since = Date.now();
      try {
        await run.abort.whenHandlerSettled();
      } finally {
        this.countAbandoned(-1);
      }
      this.logger.log(`${name}: its handler returned ${((Date.now() - since) / 1000).toFixed(1)} s after it was given up; lock and slot released`);
    }
    // Its session lost: the row, still `started` at this attempt unless another took it over, goes back to the queue.
    if (run.lost) await this.finisher.handBack([task]).catch((err: Error) => this.logger.warn(`${name}: handing it back failed: ${err.message}`));
    await this.finisher.release(task).catch((err: Error) => this.logger.warn(`${name}: releasing its lock failed: ${err.message}`));
  }

  private countAbandoned(delta: number): void {
    this.abandoned += delta;
    this.observer?.abandonedRunning?.(this.abandoned);
  }

  /**
   * Takes again, on the worker session (reconnected), the locks of the runs whose handlers have not
   * returned; tries again (backing off) while the database cannot be reached. A lock another
   * session holds now is an overlap: said loudly, counted, and `lockLost` is emitted.
   */
  private async relock(): Promise<void> {
    for (let delay = RELOCK_RETRY_MS; this.relockWanted; delay = Math.min(2 * delay, RELOCK_RETRY_MAX_MS)) {
      this.relockWanted = false;
      const runs = [...this.running.values()].filter((r) => r.abort.handlerRunning);
      if (runs.length === 0) return;
      let elsewhere: ClaimedTask[];
      try {
        elsewhere = await this.finisher.relock(runs.map((r) => r.task));
      } catch (err) {
        this.logger.warn(`taking the locks of ${runs.length} running handler(s) again failed: ${(err as Error).message}; trying again in ${delay} ms`);
        this.relockWanted = true;
        await sleep(delay, undefined, { ref: false });
        continue;
      }
      this.logger.log(`worker session back: ${runs.length - elsewhere.length} running handler(s) hold their tasks' locks again`);
      // A handler that has returned meanwhile (it heard its abort) overlaps nothing any more.
      const overlapping = elsewhere.filter((t) => this.running.get(t.id)?.abort.handlerRunning === true);
      for (const t of elsewhere) {
        if (!overlapping.includes(t)) {
          this.logger.warn(`task ${t.id} (${t.func}) attempt ${t.attempt}: another session took its lock while the worker session was lost; its handler has returned since`);
          continue;
        }
        this.logger.error(
          `task ${t.id} (${t.func}) attempt ${t.attempt}: its lock could not be taken again after the worker session was lost: another session holds it, ` +
            'so the task may run elsewhere while its handler here has not returned; this worker stops',
        );
        this.observer?.lockLost?.();
      }
      if (overlapping.length > 0) this.emit('lockLost', overlapping.map((t) => t.id));
    }
  }
}
