import { Injectable } from '@nestjs/common';
import { hostname } from 'node:os';
import { Broker, DeliveryBatch, PublishPriority, TaskRef } from '../broker/broker.js';
import { WorkerSession } from '../worker/worker-session.js';
import {
  LOCK_DELIVERED,
  LockedRow,
  MARK_NOT_RUNNABLE,
  MARK_STARTED_AND_LOCK,
  PARENTS_FOR_SHARE,
  ParentRow,
  QUEUE_BY_ID,
  QUEUE_CHILDREN,
} from './sql/claim.sql.js';
import type { Queryable } from './sql/queryable.js';
import { TaskRegistry } from './task-registry.js';
import { BrokenReason, TaskStatus } from './task-status.js';
import { DependencyBroken } from './tasks.errors.js';

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

  constructor(
    private readonly registry: TaskRegistry,
    private readonly session: WorkerSession,
    private readonly broker: Broker,
  ) {}

  /**
   * Claims a delivered batch (or pulls up to `limit` queued rows, PostgreSQL transport) in one
   * transaction on the worker session. Returns the tasks now started here and how many were taken.
   */
  async claim(batch: DeliveryBatch, limit: number): Promise<{ started: ClaimedTask[]; taken: number }> {
    const attempted: string[] = [];
    let result: { started: ClaimedTask[]; toPublish: TaskRef[]; taken: number };
    try {
      result = await this.session.transaction(async (q) => {
        const rows = batch.pull
          ? await batch.pull(q, limit)
          : await q.rows<LockedRow>(LOCK_DELIVERED, [[...new Set(batch.refs.map((r) => r.taskId))]]);
        return { ...(await this.claimIn(q, rows, attempted)), taken: batch.pull ? rows.length : batch.refs.length };
      });
    } catch (err) {
      // Session advisory locks survive a rollback: drop the ones this claim may have taken.
      await this.session.unlock(attempted).catch(() => undefined);
      throw err;
    }
    if (result.toPublish.length > 0) void this.broker.publish(result.toPublish, PublishPriority.Next);
    return { started: result.started, taken: result.taken };
  }

  private async claimIn(q: Queryable, rows: LockedRow[], attempted: string[]): Promise<{ started: ClaimedTask[]; toPublish: TaskRef[] }> {
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
      // No prototype: a dependency named `__proto__` is a key like any other.
      const deps: Record<string, unknown> = Object.create(null);
      for (const p of ps) deps[p.name] = p.status === TaskStatus.Success ? p.result : new DependencyBroken(p.name, p.broken_reason, p.error);
      runnable.push({ ...c, deps });
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
    const toPublish: (TaskRef & { status: string })[] = [];
    const bulk = this.registry.bulkFuncs();
    if (parentsToQueue.size > 0) toPublish.push(...(await q.rows<TaskRef & { status: string }>(QUEUE_BY_ID, [[...parentsToQueue], bulk])));
    if (childrenToReset.length > 0) toPublish.push(...(await q.rows<TaskRef & { status: string }>(QUEUE_CHILDREN, [childrenToReset, bulk])));

    return {
      started: startable.map((r) => ({
        id: r.id,
        collection: r.collection,
        func: r.func,
        args: r.args,
        attempt: attempts.get(r.id)!,
        sizeBytes: Number(r.size_bytes),
        deps: r.deps,
      })),
      toPublish: toPublish.filter((r) => r.status === TaskStatus.Queued).map(({ collection, taskId, func }) => ({ collection, taskId, func })),
    };
  }
}
