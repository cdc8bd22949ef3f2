import { Inject, Injectable, Optional } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { Broker, PublishPriority } from '../broker/broker.js';
import { Db } from '../database/db.js';
import { Coalescer, Flushed } from './enqueue-batcher.js';
import { EnqueueOptions, EnqueueRequest, InTransaction, TaskHandle } from './enqueue-request.js';
import { EnqueueWriter, PreparedEnqueue, WriteResult } from './enqueue-writer.js';
import type { Executor, SameTransaction } from './executor.js';
import { INLINE_RUNS, type InlineRuns } from './inline-runs.js';
import { PublishOnCommit } from './publish-on-commit.js';
import { TaskAdminGateway } from './task-admin.gateway.js';
import { TaskReadGateway, type TaskStateRow } from './task-read.gateway.js';
import { inSavepoint, joinTransaction } from '../database/caller-transaction.js';
import { FuncCatalog } from './func-catalog.js';
import { TaskId, TaskStatus } from './task-status.js';
import { InvalidArgs, LaterzError, NotInTransaction, TaskHasDependents, TaskNotFound, TaskNotWaiting, TaskRunning } from './tasks.errors.js';
import { argsHash, canonicalJson } from './canonical-json.js';
import { TaskDeleteGateway } from './task-delete.gateway.js';
import { ScheduleGateway } from './schedule.gateway.js';

/**
 * Enqueue (idempotent get-or-create) and retry: the API handlers and operators write against.
 * One per process; a caller with its own pool (the api role) passes it as an Executor.
 */
@Injectable()
export class TasksService {
  private readonly coalescer = new Coalescer<PreparedEnqueue, TaskHandle>((items) => this.flushCoalesced(items));
  private readonly engine: Executor;
  private readonly reads: TaskReadGateway;

  constructor(
    private readonly writer: EnqueueWriter,
    private readonly catalog: FuncCatalog,
    broker: Broker,
    private readonly onCommit: PublishOnCommit,
    private readonly db: Db,
    @Optional() @Inject(INLINE_RUNS) private readonly inline?: InlineRuns,
  ) {
    this.engine = { db, broker };
    this.reads = new TaskReadGateway(db);
  }

  /**
   * One task's status and outcome (`result` once it succeeded, `error` and `brokenReason` after a
   * failure): what a caller polls to wait for a task. Throws TaskNotFound when there is none.
   */
  async get(id: TaskId): Promise<TaskState> {
    const state = await this.reads.stateById(id);
    if (!state) throw new TaskNotFound(id);
    return state;
  }

  /**
   * Get-or-create the task `func(args)` in a collection. With `tx` (an application's transaction:
   * InTransaction), it is written in that transaction and published once it commits; otherwise
   * concurrent calls are coalesced into one multi-row write. `manager`, the older way to pass an
   * EntityManager, is the same as `tx: manager`.
   */
  async enqueue(func: string, args: unknown, options: EnqueueOptions & InTransaction = {}, manager?: EntityManager): Promise<TaskHandle> {
    const { tx, ...rest } = options;
    const within = tx ?? manager;
    if (within) {
      const [handle] = await this.enqueueMany([{ ...rest, func, args }], { tx: within });
      return handle;
    }
    const [prepared] = await this.writer.prepare([{ ...rest, func, args }]);
    const handle = await this.coalescer.add(prepared);
    return this.inline ? (await this.inline.afterEnqueue([handle]))[0] : handle;
  }

  /**
   * Enqueues many calls at once: all are written or none (the first bad one is thrown). With `tx`,
   * in that transaction (as enqueue); an EntityManager in place of the options is the same as `{ tx }`.
   */
  async enqueueMany(requests: EnqueueRequest[], options: InTransaction | EntityManager = {}): Promise<TaskHandle[]> {
    const tx = isPlainObject(options) ? (options as InTransaction).tx : (options as EntityManager);
    const prepared = await this.writer.prepare(requests);
    if (!tx) return prepared.length === 0 ? [] : this.ranInline(await this.enqueueOn(this.engine, prepared));
    const joined = await joinTransaction(tx);
    if (joined.kind === 'refused') throw new NotInTransaction(joined.reason);
    if (prepared.length === 0) return [];
    // A dependency can be refused after the inserts (a cycle): in the caller's transaction, which the
    // caller may still commit, a savepoint keeps the batch whole or absent.
    const write = () => this.writer.write(joined.q, prepared);
    // A queue cap is also checked after the inserts (QueueFull).
    const result = prepared.some((p) => p.deps.length > 0 || p.maxQueued !== undefined) ? await inSavepoint(joined.q, write) : await write();
    await this.onCommit.afterCommit(joined, result.toPublish);
    return result.handles;
  }

  /**
   * Enqueues many calls in one transaction on `on`'s pool, with `within` run in it before the
   * commit (all are written with its work, or nothing is); publishes through `on`'s broker after.
   */
  async enqueueVia(on: Executor, requests: EnqueueRequest[], within?: SameTransaction<TaskHandle[]>): Promise<TaskHandle[]> {
    const prepared = await this.writer.prepare(requests);
    if (prepared.length === 0) return [];
    return this.ranInline(await this.enqueueOn(on, prepared, within));
  }

  /** Resets one task (anything but a running one) and queues it; `within` runs in its transaction. */
  async retryTask(id: TaskId, options: { resetFailCount?: boolean; on?: Executor; within?: SameTransaction } = {}): Promise<TaskHandle> {
    const on = options.on ?? this.engine;
    const row = await on.db.transaction(async (tx) => {
      const store = new TaskAdminGateway(tx);
      const retried = await store.retryIfNotStarted(id, this.catalog.bulkFuncs(), options.resetFailCount ?? false);
      if (!retried) {
        if ((await store.statusById(id)) === undefined) throw new TaskNotFound(id);
        throw new TaskRunning(id);
      }
      await options.within?.(tx, 1);
      return retried;
    });
    const { priority, ...handle } = row;
    if (handle.status === TaskStatus.Queued) await on.broker.publish([{ collection: handle.collection, taskId: handle.id, func: handle.func, priority }], PublishPriority.Enqueue);
    return { ...handle, created: false };
  }

  /**
   * Deletes the task `func(args)` of a collection (snoop's `func.delete(args)`), in one transaction:
   * TaskNotFound when there is none, TaskHasDependents when other tasks depend on it, TaskRunning
   * while it runs; nothing is deleted then. Its edges to its parents, its attempts and its identity
   * go with it; a broker message still carrying its id finds nothing to run.
   */
  async deleteTask(func: string, args: unknown, options: { collection?: string; on?: Executor; within?: SameTransaction<DeletedTask> } = {}): Promise<DeletedTask> {
    const collection = options.collection ?? 'default';
    let hash: Buffer;
    try {
      hash = argsHash(canonicalJson(args ?? null));
    } catch (err) {
      throw new InvalidArgs(func, (err as Error).message);
    }
    const on = options.on ?? this.engine;
    return on.db.transaction(async (tx) => {
      const store = new TaskDeleteGateway(tx);
      const row = await store.lockByIdentity(collection, func, hash);
      if (!row) throw new TaskNotFound(`${func} with these args in collection "${collection}"`);
      const dependents = await store.countDependents(row.id);
      if (dependents > 0) throw new TaskHasDependents(row.id, dependents);
      if (!(await store.deleteIfNotStarted(row.id))) throw new TaskRunning(row.id);
      const deleted = { id: row.id, collection, func, status: row.status as TaskStatus };
      await options.within?.(tx, deleted);
      return deleted;
    });
  }

  /**
   * Changes when a waiting task runs (a pending one, or a failure waiting for its retry): the due
   * scan queues it at `runAfter`, within about DUE_SCAN_INTERVAL_MS (a time already past: at once).
   * Throws TaskNotFound, or TaskNotWaiting when it is queued, running or finished for good.
   */
  async reschedule(id: TaskId, runAfter: Date, options: { on?: Executor; within?: SameTransaction } = {}): Promise<{ id: TaskId; collection: string; func: string; status: TaskStatus; runAfter: Date }> {
    if (!(runAfter instanceof Date) || Number.isNaN(runAfter.getTime())) throw new TypeError(`reschedule(${id}): runAfter must be a valid Date`);
    const on = options.on ?? this.engine;
    return on.db.transaction(async (tx) => {
      const store = new ScheduleGateway(tx);
      const row = await store.rescheduleIfWaiting(id, runAfter);
      if (!row) throw await this.notWaiting(store, id);
      await options.within?.(tx, 1);
      return { ...row, status: row.status as TaskStatus };
    });
  }

  /**
   * Removes a waiting task (a pending one, or a failure waiting for its retry) that no task depends
   * on. Throws TaskNotFound, TaskNotWaiting, or TaskHasDependents (nothing is deleted then).
   */
  async removeWaiting(id: TaskId, options: { on?: Executor; within?: SameTransaction } = {}): Promise<{ id: TaskId; collection: string; func: string }> {
    const on = options.on ?? this.engine;
    return on.db.transaction(async (tx) => {
      const store = new ScheduleGateway(tx);
      const row = await store.removeIfWaiting(id);
      if (!row) throw await this.notWaiting(store, id);
      await options.within?.(tx, 1);
      return row;
    });
  }

  private async notWaiting(store: ScheduleGateway, id: TaskId): Promise<LaterzError> {
    const check = await store.waitingCheck(id);
    if (!check) return new TaskNotFound(id);
    const waits = check.status === TaskStatus.Pending || ((check.status === TaskStatus.Error || check.status === TaskStatus.Broken) && check.runAfter !== null);
    if (waits && check.dependents > 0) return new TaskHasDependents(id, check.dependents);
    return new TaskNotWaiting(id, check.runAfter === null || !waits ? check.status : `${check.status} (retry at ${check.runAfter.toISOString()})`);
  }

  private async enqueueOn(on: Executor, prepared: PreparedEnqueue[], within?: SameTransaction<TaskHandle[]>): Promise<TaskHandle[]> {
    const result = await on.db.transaction(async (tx) => {
      const written = await this.writer.write(tx, prepared);
      await within?.(tx, written.handles);
      return written;
    });
    await this.afterCommit(result, on.broker);
    return result.handles;
  }

  /** Inline mode: what the committed enqueue made runnable has run (see InlineRuns); otherwise `handles` as they are. */
  private ranInline(handles: TaskHandle[]): Promise<TaskHandle[]> | TaskHandle[] {
    return this.inline ? this.inline.afterEnqueue(handles) : handles;
  }

  /** One write for the coalesced calls; publishing it runs beside the next write (see Coalescer). */
  private async flushCoalesced(items: PreparedEnqueue[]): Promise<Flushed<TaskHandle>> {
    try {
      const result =
        (await this.writer.writeSimple(this.db, items)) ?? (await this.db.transaction((tx) => this.writer.write(tx, items)));
      return { results: result.handles, after: this.afterCommit(result) };
    } catch (err) {
      if (!(err instanceof LaterzError) || items.length === 1) throw err;
      // One caller's bad dependency must not fail the others: write each on its own.
      const written = await Promise.all(
        items.map((item) => this.db.transaction((tx) => this.writer.write(tx, [item])).catch((e: unknown) => e as Error)),
      );
      return {
        results: written.map((w) => (w instanceof Error ? w : w.handles[0])),
        after: Promise.all(written.map((w) => (w instanceof Error ? undefined : this.afterCommit(w)))),
      };
    }
  }

  /** A write committed: its new collections are known now, and its queued tasks are published. */
  private async afterCommit(result: WriteResult, broker: Broker = this.engine.broker): Promise<void> {
    this.writer.committed(result);
    if (result.toPublish.length > 0) await broker.publish(result.toPublish, PublishPriority.Enqueue);
  }
}

/** A task deleteTask removed, with the status it had. */
export interface DeletedTask {
  id: TaskId;
  collection: string;
  func: string;
  status: TaskStatus;
}

/** A task as `TasksService.get` reads it. */
export type TaskState = TaskStateRow;

/** `{ tx }` (or `{}`), not a TypeORM EntityManager passed the older way. */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
