import type { PublishRef } from '../broker/broker.js';
import type { Queryable, Statement } from '../database/queryable.js';
import {
  cancelChannel,
  cancellableCountStatement,
  type CancelRow,
  cancelStatement,
  NOW_MINUS_SECONDS,
  purgeableCountStatement,
  purgeStatement,
  retryableCountStatement,
  type RetryGroupRow,
  retryStatement,
} from './sql/admin.sql.js';
import { CANCELLED_AMONG } from './sql/cancel-recheck.sql.js';
import { QUEUE_PENDING_SLICE, RETRY_TASK_IF_NOT_STARTED, type RetriedRow, TASK_STATUS_BY_ID } from './sql/retry.sql.js';
import type { TaskId, TaskStatus } from './task-status.js';

export type { CancelRow, RetriedRow, RetryGroupRow };
export { cancelChannel };

/** A filter's WHERE clause (from `filterToSql`, numbered from $1) and its parameters. */
export interface FilterSql {
  where: string;
  params: unknown[];
}

/**
 * The statements of retry (one task, or by filter), cancel and purge, their counts and the reads
 * around them, on `q`: a Db, or the caller's transaction for a change.
 */
export class TaskAdminGateway {
  constructor(private readonly q: Queryable) {}

  /** Resets one task unless it is running, and queues it (a bulk func's: pending); none when it runs or does not exist. */
  async retryIfNotStarted(id: TaskId, bulkFuncs: string[], resetFailCount: boolean): Promise<RetriedRow | undefined> {
    const [row] = await this.q.rows<RetriedRow>(RETRY_TASK_IF_NOT_STARTED, [id, bulkFuncs, resetFailCount]);
    return row;
  }

  /** The task's status; undefined when there is no such task. */
  async statusById(id: TaskId): Promise<TaskStatus | undefined> {
    const [row] = await this.q.rows<{ status: TaskStatus }>(TASK_STATUS_BY_ID, [id]);
    return row?.status;
  }

  /**
   * Cancels at most `limit` unfinished tasks matching the filter (rows a worker holds skipped when
   * `skipLocked`), and queues their deferred children: the cancelled rows and the queued ones.
   */
  cancelUnfinished(
    filter: FilterSql,
    o: { limit: number; message: string; attemptsKept: number; bulkFuncs: string[]; skipLocked: boolean },
  ): Promise<CancelRow[]> {
    return this.q.rows<CancelRow>(cancelStatement(filter.where, filter.params.length + 1, o.skipLocked), [
      ...filter.params,
      o.limit,
      o.message,
      o.attemptsKept,
      o.bulkFuncs,
    ]);
  }

  /** Resets at most `limit` tasks matching the filter (running ones excepted) to pending: how many per (collection, func). */
  resetRetryable(filter: FilterSql, limit: number, resetFailCount: boolean): Promise<RetryGroupRow[]> {
    return this.q.rows<RetryGroupRow>(retryStatement(filter.where, filter.params.length + 1), [...filter.params, limit, resetFailCount]);
  }

  /** Deletes at most `limit` finished failures matching the filter that no task depends on; how many. */
  purgeFailures(filter: FilterSql, limit: number): Promise<number> {
    return this.q.count(purgeStatement(filter.where, filter.params.length + 1), [...filter.params, limit]);
  }

  countRetryable(filter: FilterSql): Promise<number> {
    return this.countOf(retryableCountStatement(filter.where), filter.params);
  }

  countCancellable(filter: FilterSql): Promise<number> {
    return this.countOf(cancellableCountStatement(filter.where), filter.params);
  }

  countPurgeable(filter: FilterSql): Promise<number> {
    return this.countOf(purgeableCountStatement(filter.where), filter.params);
  }

  /** The database's time `seconds` ago. */
  async nowMinusSeconds(seconds: number): Promise<Date> {
    const [row] = await this.q.rows<{ at: Date }>(NOW_MINUS_SECONDS, [seconds]);
    return row.at;
  }

  /** Queues up to `perPair` pending tasks of each (collection, func), oldest first, skipping locked rows. */
  queuePendingSlice(pairs: readonly { collection: string; func: string }[], perPair: number): Promise<PublishRef[]> {
    return this.q.rows<PublishRef>(QUEUE_PENDING_SLICE, [pairs.map((p) => p.collection), pairs.map((p) => p.func), perPair]);
  }

  /** Which of these tasks were cancelled (`broken` / `cancelled`). */
  async cancelledAmong(ids: TaskId[]): Promise<TaskId[]> {
    return (await this.q.rows<{ id: string }>(CANCELLED_AMONG, [ids])).map((r) => r.id);
  }

  private async countOf(statement: Statement, params: unknown[]): Promise<number> {
    const [row] = await this.q.rows<{ n: number }>(statement, params);
    return row.n;
  }
}
