import { Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { Broker, DeliveryBatch, PublishPriority, PublishRef } from '../../broker/broker.js';
import { WorkerSession } from '../worker-session.js';
import {
  LOCK_DELIVERED,
  LockedRow,
  MARK_NOT_RUNNABLE,
  MARK_STARTED_AND_LOCK,
  PARENTS_FOR_SHARE,
  ParentRow,
  QUEUE_BY_ID,
  QUEUE_CHILDREN,
} from '../../tasks/sql/claim.sql.js';
import { CLAIM_DELIVERED, CLAIM_QUEUED, CLAIM_QUEUED_FUNCS, ClaimRow } from '../../tasks/sql/claim-runnable.sql.js';
import type { Queryable } from '../../tasks/sql/queryable.js';
import { TaskRegistry } from '../../tasks/task-registry.js';
import { BrokenReason, TaskStatus } from '../../tasks/task-status.js';
import { DependencyBroken } from '../../tasks/tasks.errors.js';

/** A task this worker now runs: `attempt` is its fencing token. */
export interface ClaimedTask {
  id: string;
  collection: string;
  func: string;
  args: unknown;
  attempt: number;
  sizeBytes: number;
  deps: Record<string, unknown>;
}

interface NotRunnable {
  id: string;
  status: TaskStatus;
  reason: string;
  error: string;
  version: number | null;
}

/**
 * Claim (short transaction on the worker session): lock the delivered rows SKIP LOCKED, resolve
 * their dependencies, mark the runnable ones `started` and take their advisory locks. A fixed
 * number of statements per batch, whatever its size: four for a batch without dependencies.
 */
@Injectable()
export class TaskClaimer {
  readonly worker = `${hostname()}:${process.pid}`;
  private readonly logger = new Logger(TaskClaimer.name);

  constructor(
    private readonly registry: TaskRegistry,
    private readonly session: WorkerSession,
    private readonly broker: Broker,
  ) {}

  /**
   * Claims a delivered batch (or takes up to `limit` queued rows, PostgreSQL transport). The fast
   * path starts every plainly runnable row in one statement on the worker session; the rest (a
   * parent not completed or in error, an unknown func, a completed row) go through one transaction
   * that defers, breaks or re-queues them; rows of a paused collection are neither (the statement
   * hands the queued ones back to pending). `isRunning` tells which tasks run here (their advisory
   * locks are kept when a failed claim releases the ones it may have taken).
   */
  async claim(batch: DeliveryBatch, limit: number, isRunning: (id: string) => boolean = () => false): Promise<{ started: ClaimedTask[]; taken: number }> {
    const { names, versions } = this.funcVersions();
    let rows: ClaimRow[];
    try {
      rows = batch.pull
        ? batch.pull.funcs.length > 0
          ? await this.session.rows<ClaimRow>(CLAIM_QUEUED_FUNCS, [limit, this.worker, names, versions, [...batch.pull.funcs]])
          : await this.session.rows<ClaimRow>(CLAIM_QUEUED, [limit, this.worker, names, versions])
        : await this.session.rows<ClaimRow>(CLAIM_DELIVERED, [[...new Set(batch.refs.map((r) => r.taskId))], this.worker, names, versions]);
    } catch (err) {
      // Session advisory locks survive a failed statement: drop any it took.
      await this.session.releaseStray(isRunning).catch(() => undefined);
      throw err;
    }
    const started: ClaimedTask[] = [];
    const rest: string[] = [];
    for (const row of rows) {
      if (row.started_attempt !== null) started.push(this.claimed(row, row.started_attempt, depsOf(row.parents ?? [])));
      else if (!row.paused && row.status !== TaskStatus.Started && row.status !== TaskStatus.Error) rest.push(row.id);
    }
    if (rest.length > 0) {
      // The fast path's tasks are started and locked: they run whatever happens here. Rows this
      // claim could not settle stay as they are, for a later delivery or the dispatcher.
      try {
        started.push(...(await this.claimSlow(rest)));
      } catch (err) {
        this.logger.warn(`claim of ${rest.length} task(s) waiting on parents or not runnable failed: ${(err as Error).message}`);
      }
    }
    return { started, taken: batch.pull ? rows.length : batch.refs.length };
  }

  /** The transactional claim of rows the fast path left: defers, breaks or re-queues, starts what it can. */
  private async claimSlow(ids: string[]): Promise<ClaimedTask[]> {
    const attempted: string[] = [];
    let result: { started: ClaimedTask[]; toPublish: PublishRef[] };
    try {
      result = await this.session.transaction(async (q) => this.claimIn(q, await q.rows<LockedRow>(LOCK_DELIVERED, [ids]), attempted));
    } catch (err) {
      // Session advisory locks survive a rollback: drop the ones this claim may have taken.
      await this.session.unlock(attempted).catch(() => undefined);
      throw err;
    }
    if (result.toPublish.length > 0) void this.broker.publish(result.toPublish, PublishPriority.Next);
    return result.started;
  }

  private claimed(row: LockedRow, attempt: number, deps: Record<string, unknown>): ClaimedTask {
    return { id: row.id, collection: row.collection, func: row.func, args: row.args, attempt, sizeBytes: Number(row.size_bytes), deps };
  }

  /** Registered funcs and their versions, as the claim statement's parameters. */
  private funcVersions(): { names: string[]; versions: number[] } {
    const all = this.registry.all();
    return { names: all.map((f) => f.name), versions: all.map((f) => f.version) };
  }

  private async claimIn(q: Queryable, rows: LockedRow[], attempted: string[]): Promise<{ started: ClaimedTask[]; toPublish: PublishRef[] }> {
    const completed: string[] = [];
    const candidates: LockedRow[] = [];
    const notRunnable: NotRunnable[] = [];
    for (const row of rows) {
      // Running, or failed and waiting for its retry tier: a late or duplicate delivery must not start it.
      if (row.status === TaskStatus.Started || row.status === TaskStatus.Error) continue;
      if (this.registry.isCompleted(row)) {
        completed.push(row.id);
        continue;
      }
      if (!this.registry.get(row.func)) {
        notRunnable.push({ id: row.id, status: TaskStatus.Broken, reason: BrokenReason.UnknownTaskFunc, error: `task func "${row.func}" is not registered`, version: null });
        continue;
      }
      candidates.push(row);
    }

    const parents = new Map<string, ParentRow[]>();
    const withPrev = candidates.filter((c) => c.has_prev).map((c) => c.id);
    if (withPrev.length > 0) {
      for (const p of await q.rows<ParentRow>(PARENTS_FOR_SHARE, [withPrev])) {
        const list = parents.get(p.next_id) ?? [];
        list.push(p);
        parents.set(p.next_id, list);
      }
    }

    const runnable: (LockedRow & { deps: Record<string, unknown> })[] = [];
    const parentsToQueue = new Set<string>();
    const childrenToReset: string[] = [...completed];
    for (const c of candidates) {
      const ps = parents.get(c.id) ?? [];
      const version = this.registry.version(c.func)!;
      if (ps.some((p) => p.status === TaskStatus.Error)) {
        notRunnable.push({ id: c.id, status: TaskStatus.Broken, reason: BrokenReason.DependencyHasError, error: '', version });
        childrenToReset.push(c.id);
        continue;
      }
      const waiting = ps.filter((p) => !this.registry.isCompleted(p));
      if (waiting.length > 0) {
        notRunnable.push({ id: c.id, status: TaskStatus.Deferred, reason: '', error: '', version });
        for (const p of waiting) parentsToQueue.add(p.id);
        continue;
      }
      runnable.push({ ...c, deps: depsOf(ps.map((p) => ({ name: p.name, status: p.status, result: p.result, error: p.error, reason: p.broken_reason }))) });
    }

    // Status and advisory lock in one statement: the dispatcher never sees a `started` row without its lock.
    attempted.push(...runnable.map((r) => r.id));
    const attempts = new Map<string, number>();
    if (runnable.length > 0) {
      for (const s of await q.rows<{ id: string; attempt: number }>(MARK_STARTED_AND_LOCK, [runnable.map((r) => r.id), this.worker])) {
        attempts.set(s.id, s.attempt);
      }
    }
    const startable = runnable.filter((r) => attempts.has(r.id));
    if (notRunnable.length > 0) {
      await q.rows(MARK_NOT_RUNNABLE, [
        notRunnable.map((n) => n.id),
        notRunnable.map((n) => n.status),
        notRunnable.map((n) => n.reason),
        notRunnable.map((n) => n.error),
        notRunnable.map((n) => n.version),
      ]);
    }
    const toPublish: (PublishRef & { status: string })[] = [];
    const bulk = this.registry.bulkFuncs();
    if (parentsToQueue.size > 0) toPublish.push(...(await q.rows<PublishRef & { status: string }>(QUEUE_BY_ID, [[...parentsToQueue], bulk])));
    if (childrenToReset.length > 0) toPublish.push(...(await q.rows<PublishRef & { status: string }>(QUEUE_CHILDREN, [childrenToReset, bulk])));

    return {
      started: startable.map((r) => this.claimed(r, attempts.get(r.id)!, r.deps)),
      toPublish: toPublish.filter((r) => r.status === TaskStatus.Queued).map(({ collection, taskId, func, priority }) => ({ collection, taskId, func, priority })),
    };
  }
}

/** The handler's `deps`: each parent's result, or a DependencyBroken value for a broken parent. */
function depsOf(parents: { name: string; status: string; result: unknown; error: string; reason: string }[]): Record<string, unknown> {
  // No prototype: a dependency named `__proto__` is a key like any other.
  const deps: Record<string, unknown> = Object.create(null);
  for (const p of parents) deps[p.name] = p.status === TaskStatus.Success ? p.result : new DependencyBroken(p.name, p.reason, p.error);
  return deps;
}
