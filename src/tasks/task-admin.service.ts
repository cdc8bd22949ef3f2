import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { Broker, PublishPriority, PublishRef } from '../broker/broker.js';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import {
  cancelChannel,
  CancelRow,
  cancelStatement,
  CANCELLABLE,
  countStatement,
  NOTIFY,
  NOW_MINUS_SECONDS,
  purgeableCountStatement,
  purgeStatement,
  retryStatement,
} from './sql/admin.sql.js';
import { inTransaction, pgQueryable } from '../database/queryable.js';
import { QUEUE_PENDING_SLICE } from './sql/retry.sql.js';
import { filterToSql, TaskFilter } from './task-filter.js';
import { TaskRegistry } from './task-registry.js';
import { TaskId, TaskStatus } from './task-status.js';
import { TaskNotFound } from './tasks.errors.js';

/** Work to do in the same transaction as a change, once its size is known (e.g. an audit row). */
export type SameTransaction = (client: PoolClient, changed: number) => Promise<void>;

export const CANCEL_MESSAGE = 'cancelled by an operator';
/** A NOTIFY payload is at most 8000 bytes: ids go in comma-separated chunks well below that. */
const NOTIFY_CHUNK = 300;
/** Tasks of a retry by filter handed to the broker at once; the dispatcher queues the rest. */
const FIRST_SLICE = 1000;

export interface CancelOneResult {
  /** False when the task had already finished (its status is then unchanged). */
  cancelled: boolean;
  /** The status before the call. */
  previous: TaskStatus;
}

/**
 * Operator actions on many tasks at once — retry by filter (capped), cancel, purge — besides the
 * engine's enqueue and single retry. Every change is one guarded statement.
 */
@Injectable()
export class TaskAdminService {
  private readonly channel: string;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly registry: TaskRegistry,
    private readonly broker: Broker,
    private readonly config: AppConfig,
  ) {
    this.channel = cancelChannel(config.dbSchema);
  }

  /**
   * Cancels one task: unless it has finished, it becomes `broken` / `cancelled`; a running
   * attempt is told to abort (its finish can no longer change the row). Throws TaskNotFound.
   */
  async cancelTask(id: TaskId, within?: SameTransaction): Promise<CancelOneResult> {
    const result = await this.cancel('id = $1', [id], 1, false, within);
    if (result.cancelled.length > 0) return { cancelled: true, previous: result.cancelled[0].was as TaskStatus };
    const { rows } = await this.pool.query<{ status: TaskStatus }>('SELECT status::text AS status FROM task WHERE id = $1', [id]);
    if (rows.length === 0) throw new TaskNotFound(id);
    return { cancelled: false, previous: rows[0].status };
  }

  /**
   * Resets at most `limit` tasks matching the filter (running ones excepted) to pending in one
   * statement, then hands a first slice of them to the broker; the dispatcher queues the rest.
   */
  async retryTasks(filter: TaskFilter, limit: number, options: { resetFailCount?: boolean; within?: SameTransaction } = {}): Promise<{ reset: number; queued: number }> {
    const { where, params } = filterToSql(filter, 0);
    const groups = await inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ collection: string; func: string; n: number }>(retryStatement(where, params.length + 1), [
        ...params,
        limit,
        options.resetFailCount ?? false,
      ]);
      await options.within?.(client, rows.reduce((sum, g) => sum + g.n, 0));
      return rows;
    });
    const reset = groups.reduce((sum, g) => sum + g.n, 0);
    const runnable = groups.filter((g) => !this.registry.get(g.func)?.bulk);
    if (runnable.length === 0) return { reset, queued: 0 };
    const refs = await pgQueryable(this.pool).rows<PublishRef>(QUEUE_PENDING_SLICE, [
      runnable.map((g) => g.collection),
      runnable.map((g) => g.func),
      Math.max(1, Math.ceil(Math.min(limit, FIRST_SLICE) / runnable.length)),
    ]);
    await this.broker.publish(refs, PublishPriority.Dispatch);
    return { reset, queued: refs.length };
  }

  /** Cancels at most `limit` unfinished tasks matching the filter; says how many are left. */
  async cancelTasks(filter: TaskFilter, limit: number, within?: SameTransaction): Promise<{ cancelled: number; remaining: number }> {
    const { where, params } = filterToSql(filter, 0);
    const result = await this.cancel(where, params, limit, true, within);
    const remaining = await this.count(filter, `status IN ${CANCELLABLE}`);
    return { cancelled: result.cancelled.length, remaining };
  }

  /** How many tasks match the filter and the status condition (one of this module's fixed SQL fragments). */
  async count(filter: TaskFilter, statusCondition: string): Promise<number> {
    const { where, params } = filterToSql(filter, 0);
    const { rows } = await this.pool.query<{ n: number }>(countStatement(where, statusCondition), params);
    return rows[0].n;
  }

  /** Deletes at most `limit` tasks in `error` or `broken` matching the filter (none another task depends on). */
  async purge(filter: TaskFilter, limit: number, within?: SameTransaction): Promise<{ deleted: number; remaining: number }> {
    const { where, params } = filterToSql(filter, 0);
    const deleted = await inTransaction(this.pool, async (client) => {
      const result = await client.query(purgeStatement(where, params.length + 1), [...params, limit]);
      const n = result.rowCount ?? 0;
      await within?.(client, n);
      return n;
    });
    return { deleted, remaining: await this.countPurgeable(filter) };
  }

  /** How many tasks a purge with this filter would delete (without a limit). */
  async countPurgeable(filter: TaskFilter): Promise<number> {
    const { where, params } = filterToSql(filter, 0);
    const { rows } = await this.pool.query<{ n: number }>(purgeableCountStatement(where), params);
    return rows[0].n;
  }

  /** The database's time `seconds` ago (for "older than" filters). */
  async secondsAgo(seconds: number): Promise<Date> {
    const { rows } = await this.pool.query<{ at: Date }>(NOW_MINUS_SECONDS, [seconds]);
    return rows[0].at;
  }

  private async cancel(where: string, params: unknown[], limit: number, skipLocked: boolean, within?: SameTransaction) {
    const rows = await inTransaction(this.pool, async (client) => {
      const values = [...params, limit, CANCEL_MESSAGE, this.config.limits.attemptsKept, this.registry.bulkFuncs()];
      const { rows } = await client.query<CancelRow>(cancelStatement(where, params.length + 1, skipLocked), values);
      const running = rows.filter((r) => r.kind === 'cancelled' && r.was === TaskStatus.Started).map((r) => r.id);
      // Delivered at commit, to every worker process (CancelListener), never for a rolled-back cancel.
      for (let i = 0; i < running.length; i += NOTIFY_CHUNK) {
        await client.query(NOTIFY, [this.channel, running.slice(i, i + NOTIFY_CHUNK).join(',')]);
      }
      await within?.(client, rows.filter((r) => r.kind === 'cancelled').length);
      return rows;
    });
    const next: PublishRef[] = rows
      .filter((r) => r.kind === 'next')
      .map((r) => ({ taskId: r.id, collection: r.collection!, func: r.func!, priority: r.priority! }));
    if (next.length > 0) await this.broker.publish(next, PublishPriority.Next);
    return { cancelled: rows.filter((r) => r.kind === 'cancelled') };
  }
}
