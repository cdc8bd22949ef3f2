import { Inject, Injectable, Logger } from '@nestjs/common';
import { Pool } from 'pg';
import { EntityManager } from 'typeorm';
import { Broker, PublishPriority, PublishRef } from '../broker/broker.js';
import { PG_POOL } from '../database/database.module.js';
import { Coalescer, Flushed } from './enqueue-batcher.js';
import { EnqueueOptions, EnqueueRequest, TaskHandle } from './enqueue-request.js';
import { EnqueueWriter, PreparedEnqueue, WriteResult } from './enqueue-writer.js';
import { PublishOnCommit } from './publish-on-commit.js';
import { inTransaction, pgQueryable, typeormQueryable } from '../database/queryable.js';
import { QUEUE_PENDING_SLICE, RETRY_TASK_IF_NOT_STARTED, TASK_STATUS_BY_ID } from './sql/retry.sql.js';
import { filterToSql, TaskFilter } from './task-filter.js';
import { TaskRegistry } from './task-registry.js';
import { TaskId, TaskStatus } from './task-status.js';
import { LaterzError, TaskNotFound, TaskRunning } from './tasks.errors.js';

export interface RetryManyOptions {
  resetFailCount?: boolean;
  /** Reset only the first slice instead of every matching task. */
  oneSliceOnly?: boolean;
  /** Tasks handed to the broker right away; the dispatcher queues the rest. Default 1000. */
  sliceSize?: number;
}

export interface RetryManyResult {
  /** Tasks reset to run again. */
  reset: number;
  /** Of those, handed to the broker now. */
  queued: number;
}

/** Enqueue (idempotent get-or-create) and retry: the API handlers and operators write against. */
@Injectable()
export class TasksService {
  private readonly logger = new Logger(TasksService.name);
  private readonly coalescer = new Coalescer<PreparedEnqueue, TaskHandle>((items) => this.flushCoalesced(items));

  constructor(
    private readonly writer: EnqueueWriter,
    private readonly registry: TaskRegistry,
    private readonly broker: Broker,
    private readonly onCommit: PublishOnCommit,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  /**
   * Get-or-create the task `func(args)` in a collection. Given an EntityManager inside a
   * transaction, it joins that transaction and publishes after it commits; otherwise concurrent
   * calls are coalesced into one multi-row write.
   */
  async enqueue(func: string, args: unknown, options: EnqueueOptions = {}, manager?: EntityManager): Promise<TaskHandle> {
    if (manager?.queryRunner?.isTransactionActive) {
      const [handle] = await this.enqueueMany([{ ...options, func, args }], manager);
      return handle;
    }
    return this.coalescer.add(this.writer.prepare({ ...options, func, args }));
  }

  /** Enqueues many calls at once: all are written or none (the first bad one is thrown). */
  async enqueueMany(requests: EnqueueRequest[], manager?: EntityManager): Promise<TaskHandle[]> {
    const prepared = requests.map((r) => this.writer.prepare(r));
    if (prepared.length === 0) return [];
    const runner = manager?.queryRunner;
    if (runner?.isTransactionActive) {
      const result = await this.writer.write(typeormQueryable(runner), prepared);
      this.onCommit.add(runner, result.toPublish);
      return result.handles;
    }
    const result = await inTransaction(this.pool, (client) => this.writer.write(pgQueryable(client), prepared));
    await this.publish(result);
    return result.handles;
  }

  /** Resets one task (anything but a running one) and queues it. */
  async retryTask(id: TaskId, options: { resetFailCount?: boolean } = {}): Promise<TaskHandle> {
    const rows = await pgQueryable(this.pool).rows<{ id: string; collection: string; func: string; priority: number; status: TaskStatus }>(
      RETRY_TASK_IF_NOT_STARTED,
      [id, this.registry.bulkFuncs(), options.resetFailCount ?? false],
    );
    if (rows.length === 0) {
      const [row] = await pgQueryable(this.pool).rows<{ status: string }>(TASK_STATUS_BY_ID, [id]);
      if (!row) throw new TaskNotFound(id);
      throw new TaskRunning(id);
    }
    const { priority, ...row } = rows[0];
    if (row.status === TaskStatus.Queued) await this.broker.publish([{ collection: row.collection, taskId: row.id, func: row.func, priority }], PublishPriority.Enqueue);
    return { ...row, created: false };
  }

  /**
   * Resets every task matching the filter in one UPDATE (running ones excepted), then hands the
   * first slice to the broker; the dispatcher queues the rest.
   */
  async retryTasks(filter: TaskFilter, options: RetryManyOptions = {}): Promise<RetryManyResult> {
    const slice = options.sliceSize ?? 1000;
    const { where, params } = filterToSql(filter, 1);
    const values: unknown[] = [options.resetFailCount ?? false, ...params];
    // The slice is chosen first (MATERIALIZED): inlined in the UPDATE, its LIMIT would not bound the rows changed.
    const sql = options.oneSliceOnly
      ? `
      WITH slice AS MATERIALIZED (
             SELECT id FROM task WHERE ${where} AND status <> 'started'
              ORDER BY date_modified LIMIT $${values.push(slice)} FOR UPDATE SKIP LOCKED),
           changed AS (
             UPDATE task t SET status = 'pending', error = '', broken_reason = '', log = '', date_modified = now(),
                    fail_count = CASE WHEN $1::bool THEN 0 ELSE t.fail_count END
               FROM slice WHERE t.id = slice.id
             RETURNING t.collection, t.func)
      SELECT collection, func, count(*)::int AS n FROM changed GROUP BY collection, func`
      : `
      WITH changed AS (
        UPDATE task SET status = 'pending', error = '', broken_reason = '', log = '', date_modified = now(),
               fail_count = CASE WHEN $1::bool THEN 0 ELSE fail_count END
         WHERE ${where} AND status <> 'started'
        RETURNING collection, func)
      SELECT collection, func, count(*)::int AS n FROM changed GROUP BY collection, func`;
    const groups = (await this.pool.query<{ collection: string; func: string; n: number }>(sql, values)).rows;
    const reset = groups.reduce((sum, g) => sum + g.n, 0);
    const runnable = groups.filter((g) => !this.registry.get(g.func)?.bulk);
    let queued = 0;
    if (runnable.length > 0) {
      const refs = await pgQueryable(this.pool).rows<PublishRef>(QUEUE_PENDING_SLICE, [
        runnable.map((g) => g.collection),
        runnable.map((g) => g.func),
        Math.max(1, Math.ceil(slice / runnable.length)),
      ]);
      queued = await this.broker.publish(refs, PublishPriority.Dispatch).then(() => refs.length);
    }
    this.logger.log(`retried ${reset} tasks, queued ${queued} now`);
    return { reset, queued };
  }

  /** One write for the coalesced calls; publishing it runs beside the next write (see Coalescer). */
  private async flushCoalesced(items: PreparedEnqueue[]): Promise<Flushed<TaskHandle>> {
    try {
      const result =
        (await this.writer.writeSimple(pgQueryable(this.pool), items)) ??
        (await inTransaction(this.pool, (client) => this.writer.write(pgQueryable(client), items)));
      return { results: result.handles, after: this.publish(result) };
    } catch (err) {
      if (!(err instanceof LaterzError) || items.length === 1) throw err;
      // One caller's bad dependency must not fail the others: write each on its own.
      const written = await Promise.all(
        items.map((item) => inTransaction(this.pool, (client) => this.writer.write(pgQueryable(client), [item])).catch((e: unknown) => e as Error)),
      );
      return {
        results: written.map((w) => (w instanceof Error ? w : w.handles[0])),
        after: Promise.all(written.map((w) => (w instanceof Error ? undefined : this.publish(w)))),
      };
    }
  }

  private async publish(result: WriteResult): Promise<void> {
    if (result.toPublish.length > 0) await this.broker.publish(result.toPublish, PublishPriority.Enqueue);
  }
}
