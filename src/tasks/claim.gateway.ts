import type { PublishRef } from '../broker/broker.js';
import type { Queryable } from '../database/queryable.js';
import { CLAIM_DELIVERED, CLAIM_QUEUED, type ClaimRow } from './sql/claim-runnable.sql.js';
import {
  HELD_TASK_LOCKS,
  LOCK_DELIVERED,
  type LockedRow,
  MARK_NOT_RUNNABLE,
  MARK_STARTED_AND_LOCK,
  PARENTS_FOR_SHARE,
  type ParentRow,
  QUEUE_BY_ID,
  QUEUE_CHILDREN,
  RELOCK_RUNNING,
  UNLOCK_RUNNING,
} from './sql/claim.sql.js';

export type { ClaimRow, LockedRow, ParentRow };

/** A row a queue statement changed, with the status it left it in (`pending` for a bulk func). */
export type QueuedRow = PublishRef & { status: string };

/** The funcs registered here, each at its version (a parent of one is completed only at that version). */
export type ServedFuncs = readonly { name: string; version: number }[];

/**
 * The claim's statements and the task advisory locks, on `q`: the worker session (whose session
 * locks outlive a transaction) or a transaction on it. Each method is one statement; what to do
 * with the rows is decided in src/runner/claim/claim-decisions.ts.
 */
export class ClaimGateway {
  constructor(private readonly q: Queryable) {}

  /**
   * The fast path on delivered ids: locks them (SKIP LOCKED) and starts the plainly runnable ones
   * of the `claims` funcs whose advisory lock is free (never one of `here`, the tasks whose locks
   * this session holds); every locked row comes back.
   */
  claimDelivered(ids: string[], worker: string, funcs: ServedFuncs, claims: readonly string[], here: readonly string[]): Promise<ClaimRow[]> {
    return this.q.rows<ClaimRow>(CLAIM_DELIVERED, [ids, worker, funcs.map((f) => f.name), funcs.map((f) => f.version), claims, here]);
  }

  /** The same on the next `limit` queued rows of the `claims` funcs (PostgreSQL transport). */
  claimQueued(limit: number, worker: string, funcs: ServedFuncs, claims: readonly string[], here: readonly string[]): Promise<ClaimRow[]> {
    return this.q.rows<ClaimRow>(CLAIM_QUEUED, [limit, worker, funcs.map((f) => f.name), funcs.map((f) => f.version), claims, here]);
  }

  /** Locks these rows, skipping those another transaction holds. */
  lockDelivered(ids: string[]): Promise<LockedRow[]> {
    return this.q.rows<LockedRow>(LOCK_DELIVERED, [ids]);
  }

  /** The parents of these rows, read FOR SHARE in id order. */
  parentsForShare(childIds: string[]): Promise<ParentRow[]> {
    return this.q.rows<ParentRow>(PARENTS_FOR_SHARE, [childIds]);
  }

  /** Starts the rows whose advisory lock this session takes now; the attempt each started. */
  markStartedIfLocked(ids: string[], worker: string): Promise<{ id: string; attempt: number }[]> {
    return this.q.rows<{ id: string; attempt: number }>(MARK_STARTED_AND_LOCK, [ids, worker]);
  }

  /** Writes what rows that cannot run became: deferred, or broken with a reason (a null version keeps the row's). */
  async markNotRunnable(rows: readonly { id: string; status: string; reason: string; error: string; version: number | null }[]): Promise<void> {
    await this.q.rows(MARK_NOT_RUNNABLE, [
      rows.map((n) => n.id),
      rows.map((n) => n.status),
      rows.map((n) => n.reason),
      rows.map((n) => n.error),
      rows.map((n) => n.version),
    ]);
  }

  /** Queues these tasks unless running or locked elsewhere (a bulk func's go to pending). */
  queueByIdIfNotStarted(ids: string[], bulkFuncs: string[]): Promise<QueuedRow[]> {
    return this.q.rows<QueuedRow>(QUEUE_BY_ID, [ids, bulkFuncs]);
  }

  /** Queues the children of these tasks unless running or locked elsewhere (a bulk func's go to pending). */
  queueChildrenIfNotStarted(parentIds: string[], bulkFuncs: string[]): Promise<QueuedRow[]> {
    return this.q.rows<QueuedRow>(QUEUE_CHILDREN, [parentIds, bulkFuncs]);
  }

  /** The ids of the task advisory locks this session holds. */
  async heldTaskLocks(): Promise<string[]> {
    return (await this.q.rows<{ id: string }>(HELD_TASK_LOCKS, [])).map((h) => h.id);
  }

  /** Releases the task advisory locks this session holds among `ids` (others are skipped). */
  async unlockTasks(ids: string[]): Promise<void> {
    await this.q.rows(UNLOCK_RUNNING, [ids]);
  }

  /**
   * Takes the advisory locks of `ids` unless this session holds them already (a lock is
   * re-entrant: taking it twice would need two unlocks); the ids whose lock another session holds.
   */
  async relockTasks(ids: string[]): Promise<string[]> {
    return (await this.q.rows<{ id: string }>(RELOCK_RUNNING, [ids])).map((r) => r.id);
  }
}
