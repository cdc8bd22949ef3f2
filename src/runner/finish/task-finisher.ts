import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Broker, PublishPriority, PublishRef } from '../../broker/broker.js';
import { AppConfig } from '../../config/app-config.js';
import { Db } from '../../database/db.js';
import { Coalescer, Flushed } from '../../tasks/enqueue-batcher.js';
import { FinishGateway, type FinishRow } from '../../tasks/finish.gateway.js';
import { FuncCatalog } from '../../tasks/func-catalog.js';
import { TaskRegistry } from '../../tasks/task-registry.js';
import { retryDelay, type RetryOverride, withOverride } from '../../tasks/retry-policy.js';
import { TaskStatus } from '../../tasks/task-status.js';
import { failsForGood, type TaskFailure } from '../../tasks/failure-hooks.js';
import type { ClaimedTask } from '../claim/claim-decisions.js';
import type { LogBuffer } from '../run/run-context.js';
import { Outcome } from '../run/task-outcome.js';
import { WorkerSession } from '../worker-session.js';
import { LiveTaskLogs } from './live-task-logs.js';

type FinalOutcome = Extract<Outcome, { kind: 'final' }>;
interface Finished {
  task: ClaimedTask;
  outcome: FinalOutcome;
  log: string;
  version: number;
  /** Its handler has not returned: the lock stays held (see release). */
  keepLock: boolean;
  /** A failure's next attempt, in milliseconds from the finish; null: none (or not a failure). */
  retryInMs: number | null;
}

const DEADLOCK = '40P01';
/** Pending tasks handed to the broker per (collection, func) after a finish: keeps work flowing between dispatcher ticks. */
const TOP_UP_PER_FUNC = 20;
const TOP_UP_EVERY_MS = 250;

/**
 * Finish (short transaction): writes outcomes of many tasks in one statement, guarded by status
 * and attempt; then releases the advisory locks and publishes the next tasks. While tasks run,
 * writes their logs so far (throttled, batched, guarded the same way). The lock of a run whose
 * handler has not returned (timed out, cancelled, given up) is kept past its finish, until the
 * runner's `release` once the handler has returned: no other attempt can start meanwhile.
 */
@Injectable()
export class TaskFinisher implements OnModuleDestroy {
  private readonly logger = new Logger(TaskFinisher.name);
  private readonly coalescer = new Coalescer<Finished, boolean>((items) => this.flush(items), 500);
  private readonly liveLogs = new LiveTaskLogs(
    (ids, attempts, logs) => this.onPool.flushLogsIfStarted(ids, attempts, logs),
    (err) => this.logger.warn(`writing the logs of running tasks failed (each is written at its finish): ${err.message}`),
  );
  private lastTopUp = 0;
  /**
   * Tasks whose locks the session still holds after their finish, released by `release`: how many
   * times each (a lock is re-entrant; a new attempt may take it before an old one released it).
   */
  private readonly kept = new Map<string, number>();
  /**
   * The batch finish, live logs and top-up run on the pool, alongside the claims that run on the
   * worker session (one connection for both halved the drain rate: each waited for the other).
   */
  private readonly onPool: FinishGateway;
  /** A single task's requeue (an edge added or dropped) and the shutdown's hand-back, on the worker session. */
  private readonly onSession: FinishGateway;

  constructor(
    db: Db,
    private readonly registry: TaskRegistry,
    private readonly catalog: FuncCatalog,
    private readonly session: WorkerSession,
    private readonly broker: Broker,
    private readonly config: AppConfig,
  ) {
    this.onPool = new FinishGateway(db);
    this.onSession = new FinishGateway(session);
  }

  /** A running task's log has a new line: its row shows it within LIVE_LOG_FLUSH_MS. */
  logWritten(task: ClaimedTask, log: LogBuffer): void {
    this.liveLogs.wrote(task, log);
  }

  onModuleDestroy(): void {
    this.liveLogs.stop();
  }

  /**
   * Records how a run ended; resolves true if the write landed (false: a stale attempt). Its lock
   * is released after the write, unless `keepLock` (its handler has not returned) or the run was
   * given up (its outcome `abandon`): then it is kept until `release`.
   */
  async finish(task: ClaimedTask, outcome: Outcome, log: string, keepLock = false): Promise<boolean> {
    this.liveLogs.forget([task.id]);
    const version = this.registry.version(task.func) ?? 0;
    switch (outcome.kind) {
      case 'final':
        return this.coalescer.add({ task, outcome, log, version, keepLock, retryInMs: this.retryIn(task, outcome) });
      case 'missing':
        return this.requireParent(task, outcome.dependency, outcome.prevId, log, version, keepLock);
      case 'extra':
        return this.requeue(task, keepLock, () => this.onSession.dropEdgeAndRequeueIfStarted(task, outcome.dependency, log));
      case 'abandon':
        this.keep(task.id);
        return false;
    }
  }

  /** A failed attempt's retry, by the func's policy and the task's override: milliseconds until it is due, or null. */
  private retryIn(task: ClaimedTask, outcome: FinalOutcome): number | null {
    if (outcome.status !== TaskStatus.Error && outcome.status !== TaskStatus.Broken) return null;
    const func = this.registry.get(task.func);
    if (!func) return null;
    const policy = withOverride(func.retry, task.retry as RetryOverride | null | undefined);
    const failure = { status: outcome.status, reason: outcome.reason, thrown: outcome.thrown } as const;
    try {
      return retryDelay(policy, (task.failCount ?? 0) + 1, failure, this.config.dispatch.retryTiers);
    } catch (err) {
      this.logger.warn(`${task.func}: its retry backoff threw (${(err as Error).message}); task ${task.id} is not retried`);
      return null;
    }
  }

  /** Whether the session still holds this task's lock past its finish (`release` lets it go). */
  keeps(taskId: string): boolean {
    return this.kept.has(taskId);
  }

  /** The run is over (its handler has returned): releases the lock its finish kept, if any. */
  async release(task: ClaimedTask): Promise<void> {
    const n = this.kept.get(task.id);
    if (n === undefined) return;
    if (n > 1) this.kept.set(task.id, n - 1);
    else this.kept.delete(task.id);
    await this.session.unlock([task.id]);
  }

  private keep(taskId: string): void {
    this.kept.set(taskId, (this.kept.get(taskId) ?? 0) + 1);
  }

  /**
   * The worker session was lost, and its locks with it: takes again the locks of `tasks` (their
   * handlers still run here). Resolves with those another session holds now (no longer kept here).
   */
  async relock(tasks: readonly ClaimedTask[]): Promise<ClaimedTask[]> {
    const elsewhere = new Set(await this.session.relock(tasks.map((t) => t.id)));
    for (const id of elsewhere) this.kept.delete(id);
    return tasks.filter((t) => elsewhere.has(t.id));
  }

  /**
   * Running tasks go back to the queue (only if still ours: status and attempt). Their locks are
   * not released here: each is released by `release` once its handler has returned.
   */
  async handBack(tasks: ClaimedTask[]): Promise<number> {
    if (tasks.length === 0) return 0;
    this.liveLogs.forget(tasks.map((t) => t.id));
    const refs = await this.onSession.handBackIfStarted(tasks);
    if (refs.length > 0) await this.broker.publish(refs, PublishPriority.Next);
    return refs.length;
  }

  /** One statement for the finished batch; the next tasks it queued are published beside the next batch. */
  private async flush(items: Finished[]): Promise<Flushed<boolean>> {
    // On the pool (see onPool); the locks are released on the session after.
    let rows: FinishRow[];
    try {
      rows = await this.withDeadlockRetry(() =>
        this.onPool.finishIfStarted(
          items.map((i) => ({ ...i.outcome, id: i.task.id, attempt: i.task.attempt, log: i.log, version: i.version, retryInMs: i.retryInMs })),
          this.config.limits.attemptsKept,
          this.catalog.bulkFuncs(),
        ),
      );
    } catch (err) {
      // Nothing written: the runner's release lets the locks go (the rows, still started, are then found dead).
      for (const i of items) this.keep(i.task.id);
      throw err;
    }
    const unlock: string[] = [];
    for (const i of items) {
      if (i.keepLock) this.keep(i.task.id);
      else unlock.push(i.task.id);
    }
    await this.session.unlock(unlock).catch((err: Error) => this.logger.warn(`advisory unlock failed: ${err.message}`));
    const done = new Set<string>();
    const failCounts = new Map<string, number>();
    const next: PublishRef[] = [];
    for (const row of rows) {
      if (row.kind === 'done') {
        done.add(row.id);
        failCounts.set(row.id, row.fail_count ?? 0);
      }
      else if (row.kind === 'next') next.push({ taskId: row.id, collection: row.collection!, func: row.func!, priority: row.priority! });
    }
    const after = (async () => {
      if (next.length > 0) await this.broker.publish(next, PublishPriority.Next);
      await this.topUp(items);
    })();
    void this.registry.failureHooks.report(this.failedForGood(items, failCounts));
    return { results: items.map((i) => done.has(i.task.id)), after };
  }

  /** The landed outcomes that end their tasks for good (failsForGood, by the retry policy): what the failure hooks get. */
  private failedForGood(items: Finished[], failCounts: ReadonlyMap<string, number>): TaskFailure[] {
    if (this.registry.failureHooks.size === 0) return [];
    return items.flatMap((i) => {
      const failCount = failCounts.get(i.task.id);
      const status = i.outcome.status;
      // The retry policy decided (retryIn): for good when the finish wrote no retry time.
      if (failCount === undefined || (status !== TaskStatus.Broken && status !== TaskStatus.Error) || !failsForGood({ status, failCount }, { retryInMs: i.retryInMs })) return [];
      return [{ taskId: i.task.id, collection: i.task.collection, func: i.task.func, attempt: i.task.attempt, status, reason: i.outcome.reason, error: i.outcome.error, failCount }];
    });
  }

  /** Like snoop's queue_another_task: a few pending tasks of the funcs just finished, at most every 250 ms. */
  private async topUp(items: Finished[]): Promise<void> {
    const now = Date.now();
    if (now - this.lastTopUp < TOP_UP_EVERY_MS) return;
    this.lastTopUp = now;
    const pairs = new Map<string, { collection: string; func: string }>();
    for (const i of items) {
      if (this.registry.get(i.task.func)?.bulk) continue;
      pairs.set(`${i.task.collection}\u0000${i.task.func}`, { collection: i.task.collection, func: i.task.func });
    }
    if (pairs.size === 0) return;
    const list = [...pairs.values()];
    try {
      const refs = await this.onPool.queuePendingSlice(list, TOP_UP_PER_FUNC);
      if (refs.length > 0) await this.broker.publish(refs, PublishPriority.Dispatch);
    } catch (err) {
      this.logger.warn(`top-up failed: ${(err as Error).message}`);
    }
  }

  private async requireParent(task: ClaimedTask, dependency: string, prevId: string, log: string, version: number, keepLock: boolean): Promise<boolean> {
    if (await this.onSession.wouldCloseCycle(prevId, task.id)) {
      const error = `dependency "${dependency}" (task ${prevId}) depends on this task: that would close a cycle`;
      return this.coalescer.add({ task, log, version, keepLock, retryInMs: null, outcome: { kind: 'final', status: TaskStatus.Broken, result: null, error, reason: 'dependency_cycle', trace: error } });
    }
    return this.requeue(task, keepLock, () => this.onSession.addEdgeAndRequeueIfStarted(task, prevId, dependency, log));
  }

  private async requeue(task: ClaimedTask, keepLock: boolean, write: () => Promise<PublishRef[]>): Promise<boolean> {
    let refs: PublishRef[];
    try {
      refs = await this.withDeadlockRetry(write);
    } finally {
      // Released before the publish: a claim of the task queued again must find its lock free.
      if (keepLock) this.keep(task.id);
      else await this.session.unlock([task.id]).catch(() => undefined);
    }
    if (refs.length > 0) await this.broker.publish(refs, PublishPriority.Next);
    return refs.length > 0;
  }

  private async withDeadlockRetry<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if ((err as { code?: string }).code !== DEADLOCK || attempt >= 5) throw err;
        this.logger.debug(`deadlock on finish, retry ${attempt}`);
      }
    }
  }
}
