import type { CallerTransaction } from '../database/caller-transaction.js';
import type { RetryOverride } from './retry-policy.js';
import type { TaskId, TaskStatus } from './task-status.js';

export type { CallerTransaction };

/** A task as the enqueue API returns it. */
export interface TaskHandle {
  id: TaskId;
  collection: string;
  func: string;
  status: TaskStatus;
  /** False when the call found the task already there (get-or-create). */
  created: boolean;
}

export type DependencyRef = TaskHandle | { id: TaskId } | TaskId;

export interface EnqueueOptions {
  /** Default `default`. */
  collection?: string;
  /** Named parents: their results reach the handler under these names. */
  dependsOn?: Record<string, DependencyRef>;
  /** Reset the task to run again even if it has finished. */
  retry?: boolean;
  /** Hand it to the broker now (default); otherwise the dispatcher picks it up. */
  queueNow?: boolean;
  /** Remove dependencies that `dependsOn` does not name. */
  deleteExtraDeps?: boolean;
  /** 0-9, higher first. Default: the func's priority. */
  priority?: number;
  /** Not before this time: queued when due (within about a second), and never started before. */
  runAfter?: Date;
  /**
   * Overrides the func's retry policy for this task (attempts, a written-down backoff, error codes,
   * broken reasons); stored with the task, so whichever worker runs it applies it. Set when the
   * task is created (a call that finds the task already there does not change it).
   */
  retryPolicy?: RetryOverride;
  /** Size of the work, in bytes, for bulk batching. */
  sizeBytes?: number;
  /** Not started by then: it ends `broken` / `expired` and never runs. Overrides the func's `expireIn`. */
  expiresAt?: Date;
  /** Like expiresAt, this long after the enqueue (milliseconds or `10m`, on the database's clock). */
  expireIn?: number | string;
}

/** Enqueue in an application's own transaction: written with its work, published once it commits. */
export interface InTransaction {
  /**
   * A TypeORM EntityManager or QueryRunner (of any DataSource on this database) inside a
   * transaction, or a `pg` client after BEGIN. Outside a transaction the call is refused.
   */
  tx?: CallerTransaction;
}

export interface EnqueueRequest extends EnqueueOptions {
  func: string;
  args: unknown;
}

export function dependencyId(ref: DependencyRef): TaskId {
  return typeof ref === 'string' ? ref : String(ref.id);
}
