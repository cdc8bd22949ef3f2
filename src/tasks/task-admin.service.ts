import { Injectable } from '@nestjs/common';
import { Broker, PublishPriority, PublishRef } from '../broker/broker.js';
import { AppConfig } from '../config/app-config.js';
import { Db } from '../database/db.js';
import type { Executor, SameTransaction } from './executor.js';
import { cancelChannel, FilterSql, TaskAdminGateway } from './task-admin.gateway.js';
import { filterToSql, TaskFilter } from './task-filter.js';
import { FuncCatalog } from './func-catalog.js';
import { TaskId, TaskStatus } from './task-status.js';
import { TaskNotFound } from './tasks.errors.js';

/** How a call runs: on `on` (default: the engine's pool and broker), with `within` in its transaction. */
export interface AdminCall {
  on?: Executor;
  within?: SameTransaction;
}

const CANCEL_MESSAGE = 'cancelled by an operator';
/** A NOTIFY payload is at most 8000 bytes: ids go in comma-separated chunks well below that. */
const NOTIFY_CHUNK = 300;
/** Tasks of a retry by filter handed to the broker at once by default; the dispatcher queues the rest. */
const FIRST_SLICE = 1000;

export interface CancelOneResult {
  /** False when the task had already finished (its status is then unchanged). */
  cancelled: boolean;
  /** The status before the call. */
  previous: TaskStatus;
}

export interface RetryByFilterOptions extends AdminCall {
  resetFailCount?: boolean;
  /** Of the tasks reset, at most this many are handed to the broker now (default 1000). */
  firstSlice?: number;
}

/**
 * Operator actions on many tasks at once — retry by filter (capped), cancel, purge — besides the
 * engine's enqueue and single retry. Every change is one guarded statement.
 */
@Injectable()
export class TaskAdminService {
  private readonly channel: string;
  private readonly engine: Executor;

  constructor(
    db: Db,
    private readonly catalog: FuncCatalog,
    broker: Broker,
    private readonly config: AppConfig,
  ) {
    this.channel = cancelChannel(config.dbSchema);
    this.engine = { db, broker };
  }

  /**
   * Cancels one task: unless it has finished, it becomes `broken` / `cancelled`; a running
   * attempt is told to abort (its finish can no longer change the row). Throws TaskNotFound.
   */
  async cancelTask(id: TaskId, call: AdminCall = {}): Promise<CancelOneResult> {
    const on = call.on ?? this.engine;
    const result = await this.cancel(on, { where: 'id = $1', params: [id] }, 1, false, call.within);
    if (result.cancelled.length > 0) return { cancelled: true, previous: result.cancelled[0].was as TaskStatus };
    const status = await new TaskAdminGateway(on.db).statusById(id);
    if (status === undefined) throw new TaskNotFound(id);
    return { cancelled: false, previous: status };
  }

  /**
   * Resets at most `limit` tasks matching the filter (running ones excepted) to pending in one
   * statement, then hands a first slice of them to the broker; the dispatcher queues the rest.
   */
  async retryTasks(filter: TaskFilter, limit: number, options: RetryByFilterOptions = {}): Promise<{ reset: number; queued: number }> {
    const on = options.on ?? this.engine;
    const selected = filterToSql(filter, 0);
    const groups = await on.db.transaction(async (tx) => {
      const rows = await new TaskAdminGateway(tx).resetRetryable(selected, limit, options.resetFailCount ?? false);
      await options.within?.(tx, rows.reduce((sum, g) => sum + g.n, 0));
      return rows;
    });
    const reset = groups.reduce((sum, g) => sum + g.n, 0);
    const runnable = groups.filter((g) => !this.catalog.get(g.func)?.bulk);
    if (runnable.length === 0) return { reset, queued: 0 };
    const refs = await new TaskAdminGateway(on.db).queuePendingSlice(
      runnable,
      Math.max(1, Math.ceil(Math.min(limit, options.firstSlice ?? FIRST_SLICE) / runnable.length)),
    );
    await on.broker.publish(refs, PublishPriority.Dispatch);
    return { reset, queued: refs.length };
  }

  /** Cancels at most `limit` unfinished tasks matching the filter; says how many are left. */
  async cancelTasks(filter: TaskFilter, limit: number, call: AdminCall = {}): Promise<{ cancelled: number; remaining: number }> {
    const result = await this.cancel(call.on ?? this.engine, filterToSql(filter, 0), limit, true, call.within);
    return { cancelled: result.cancelled.length, remaining: await this.countCancellable(filter, call.on) };
  }

  /** How many tasks matching the filter a retry would reset. */
  countRetryable(filter: TaskFilter, on?: Executor): Promise<number> {
    return this.store(on).countRetryable(filterToSql(filter, 0));
  }

  /** How many tasks matching the filter a cancel would change. */
  countCancellable(filter: TaskFilter, on?: Executor): Promise<number> {
    return this.store(on).countCancellable(filterToSql(filter, 0));
  }

  /** How many tasks a purge with this filter would delete (without a limit). */
  countPurgeable(filter: TaskFilter, on?: Executor): Promise<number> {
    return this.store(on).countPurgeable(filterToSql(filter, 0));
  }

  /** Deletes at most `limit` tasks in `error` or `broken` matching the filter (none another task depends on). */
  async purge(filter: TaskFilter, limit: number, call: AdminCall = {}): Promise<{ deleted: number; remaining: number }> {
    const selected = filterToSql(filter, 0);
    const deleted = await (call.on ?? this.engine).db.transaction(async (tx) => {
      const n = await new TaskAdminGateway(tx).purgeFailures(selected, limit);
      await call.within?.(tx, n);
      return n;
    });
    return { deleted, remaining: await this.countPurgeable(filter, call.on) };
  }

  /** The database's time `seconds` ago (for "older than" filters). */
  secondsAgo(seconds: number, on?: Executor): Promise<Date> {
    return this.store(on).nowMinusSeconds(seconds);
  }

  /** The gateway on `on`'s Db (default: the engine's). */
  private store(on: Executor | undefined): TaskAdminGateway {
    return new TaskAdminGateway((on ?? this.engine).db);
  }

  private async cancel(on: Executor, filter: FilterSql, limit: number, skipLocked: boolean, within?: SameTransaction) {
    const rows = await on.db.transaction(async (tx) => {
      const rows = await new TaskAdminGateway(tx).cancelUnfinished(filter, {
        limit,
        message: CANCEL_MESSAGE,
        attemptsKept: this.config.limits.attemptsKept,
        bulkFuncs: this.catalog.bulkFuncs(),
        skipLocked,
      });
      const running = rows.filter((r) => r.kind === 'cancelled' && r.was === TaskStatus.Started).map((r) => r.id);
      // Delivered at commit, to every worker process (CancelListener), never for a rolled-back cancel.
      for (let i = 0; i < running.length; i += NOTIFY_CHUNK) {
        await on.db.notify(this.channel, running.slice(i, i + NOTIFY_CHUNK).join(','), tx);
      }
      await within?.(tx, rows.filter((r) => r.kind === 'cancelled').length);
      return rows;
    });
    const next: PublishRef[] = rows
      .filter((r) => r.kind === 'next')
      .map((r) => ({ taskId: r.id, collection: r.collection!, func: r.func!, priority: r.priority! }));
    if (next.length > 0) await on.broker.publish(next, PublishPriority.Next);
    return { cancelled: rows.filter((r) => r.kind === 'cancelled') };
  }
}
