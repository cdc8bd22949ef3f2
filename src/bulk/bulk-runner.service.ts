import { Inject, Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { Pool, PoolClient } from 'pg';
import { Broker, PublishPriority, TaskRef } from '../broker/broker.js';
import { CollectionsService } from '../collections/collections.service.js';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { JobKey, runExclusive, shuffled } from '../scheduler/job-lock.js';
import { UNLOCK_RUNNING } from '../tasks/sql/claim.sql.js';
import { FINISH_IF_STARTED, FinishRow } from '../tasks/sql/finish.sql.js';
import { inTransaction, pgQueryable } from '../tasks/sql/queryable.js';
import { BulkTask, LogBuffer } from '../tasks/task-context.js';
import type { BulkHandlerFn } from '../tasks/task-handler.decorator.js';
import { TaskTimeout } from '../tasks/task-outcome.js';
import { RegisteredFunc, TaskRegistry } from '../tasks/task-registry.js';
import { TaskStatus } from '../tasks/task-status.js';
import { BulkHooks } from './bulk-hooks.js';
import {
  BulkCandidateRow,
  LOCK_BULK_TASKS,
  MARK_BULK_DEFERRED,
  MARK_BULK_STARTED,
  SELECT_BULK_CANDIDATES,
  SPREAD_BULK_DURATIONS,
} from './sql/bulk.sql.js';

export interface BulkBatchResult {
  /** Candidates read (a short read ends the func's loop). */
  selected: number;
  ran: number;
  succeeded: number;
  broken: number;
  errored: number;
  deferred: number;
  bytes: number;
}

export interface BulkReport {
  skipped: boolean;
  batches: number;
  ran: number;
  succeeded: number;
  broken: number;
  errored: number;
  deferred: number;
}

const TRACE_BYTES = 2048;

/**
 * Runs bulk funcs on batches (snoop's run_bulk_tasks / get_bulk_tasks_to_run /
 * run_single_batch_for_bulk_task): up to BULK_MAX_TASKS tasks not completed at the current
 * version, cut at BULK_MAX_BYTES; the handler's per-task map decides success or broken.
 */
@Injectable()
export class BulkRunnerService {
  private readonly logger = new Logger(BulkRunnerService.name);
  private readonly worker = `${hostname()}:${process.pid}:bulk`;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly registry: TaskRegistry,
    private readonly collections: CollectionsService,
    private readonly broker: Broker,
    private readonly hooks: BulkHooks,
    private readonly config: AppConfig,
  ) {}

  async runOnce(): Promise<BulkReport> {
    const report: BulkReport = { skipped: true, batches: 0, ran: 0, succeeded: 0, broken: 0, errored: 0, deferred: 0 };
    const funcs = this.registry.all().filter((f) => f.bulk);
    if (funcs.length === 0) return { ...report, skipped: false };
    await runExclusive(this.pool, JobKey.BulkRunner, this.config.scheduler.deadlineMs, this.logger, async (session, deadline) => {
      report.skipped = false;
      for (const collection of shuffled(await this.collections.list())) {
        if (!collection.process || Date.now() > deadline) continue;
        let hooked = false;
        try {
          for (const func of shuffled(funcs)) {
            while (Date.now() < deadline) {
              const r = await this.runBatch(session, collection.name, func, async () => {
                if (!hooked) {
                  hooked = true;
                  await this.hooks.run('before', collection.name);
                }
              });
              if (r.ran > 0) report.batches++;
              report.ran += r.ran;
              report.succeeded += r.succeeded;
              report.broken += r.broken;
              report.errored += r.errored;
              report.deferred += r.deferred;
              if (r.selected < this.config.bulk.maxTasks) break;
            }
          }
        } catch (err) {
          this.logger.error(`bulk tasks of ${collection.name} failed: ${(err as Error).message}`);
        } finally {
          if (hooked) await this.hooks.run('after', collection.name).catch((e: Error) => this.logger.error(`after-bulk hook: ${e.message}`));
        }
      }
    });
    return report;
  }

  /** One batch of one func in one collection. `beforeRun` is called once there is something to run. */
  async runBatch(session: PoolClient, collection: string, func: RegisteredFunc, beforeRun: () => Promise<void> = async () => undefined): Promise<BulkBatchResult> {
    const limits = this.config.bulk;
    const all = this.registry.all();
    const picked: (BulkCandidateRow & { bytes: number })[] = [];
    let deferred = 0;
    let selected = 0;
    const attempts = new Map<string, number>();
    await inTransaction(this.pool, async (client) => {
      const q = pgQueryable(client);
      const rows = await q.rows<BulkCandidateRow>(SELECT_BULK_CANDIDATES, [
        collection,
        func.name,
        func.version,
        limits.maxTasks,
        all.map((f) => f.name),
        all.map((f) => f.version),
      ]);
      selected = rows.length;
      const waiting = rows.filter((r) => !r.ready).map((r) => r.id);
      let total = 0;
      for (const row of rows) {
        if (!row.ready) continue;
        const bytes = Number(row.size_bytes) + limits.overheadBytes;
        if (picked.length > 0 && total + bytes > limits.maxBytes) break;
        picked.push({ ...row, bytes });
        total += bytes;
      }
      if (waiting.length > 0) await q.rows(MARK_BULK_DEFERRED, [waiting]);
      deferred = waiting.length;
      if (picked.length === 0) return;
      const locked = new Set((await session.query<{ id: string }>({ ...LOCK_BULK_TASKS, values: [picked.map((p) => p.id)] })).rows.map((r) => r.id));
      const startable = picked.filter((p) => locked.has(p.id));
      picked.splice(0, picked.length, ...startable);
      for (const s of await q.rows<{ id: string; attempt: number }>(MARK_BULK_STARTED, [startable.map((p) => p.id), this.worker])) {
        attempts.set(s.id, s.attempt);
      }
    });
    const result: BulkBatchResult = { selected, ran: picked.length, succeeded: 0, broken: 0, errored: 0, deferred, bytes: 0 };
    if (picked.length === 0) return result;
    await beforeRun();

    const log = new LogBuffer(this.config.limits.logBytes, (level, message) => this.logger.debug(`bulk ${func.name} [${level}] ${message}`));
    const batch: BulkTask[] = picked.map((p) => ({ id: p.id, collection, func: func.name, args: p.args, sizeBytes: Number(p.size_bytes) }));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TaskTimeout(func.timeoutMs)), func.timeoutMs);
    const t0 = performance.now();
    let outcome: { ok: Map<string, boolean> } | { error: string; trace: string };
    try {
      const returned = await Promise.race([
        (func.run as BulkHandlerFn)(batch, { collection, func: func.name, signal: controller.signal, logger: log }),
        new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true })),
      ]);
      outcome = returned instanceof Map ? { ok: returned } : { error: 'the bulk handler must return a Map<TaskId, boolean>', trace: '' };
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      outcome = { error: `${e.name}: ${e.message}`, trace: (e.stack ?? e.message).slice(0, TRACE_BYTES) };
    } finally {
      clearTimeout(timer);
    }
    const elapsedSeconds = (performance.now() - t0) / 1000;

    const statuses = picked.map((p) =>
      'ok' in outcome ? (outcome.ok.get(p.id) === true ? TaskStatus.Success : TaskStatus.Broken) : TaskStatus.Error,
    );
    const errors = picked.map((_, i) =>
      'ok' in outcome ? (statuses[i] === TaskStatus.Success ? '' : 'the bulk handler did not report this task as done') : outcome.error,
    );
    const text = log.text();
    let rows: FinishRow[] = [];
    try {
      rows = await pgQueryable(this.pool).rows<FinishRow>(FINISH_IF_STARTED, [
        picked.map((p) => p.id),
        picked.map((p) => attempts.get(p.id)),
        statuses,
        picked.map(() => null),
        errors,
        statuses.map((s) => (s === TaskStatus.Broken ? 'bulk_item_failed' : '')),
        picked.map(() => text),
        picked.map(() => func.version),
        errors.map((e) => ('trace' in outcome && outcome.trace ? outcome.trace : e)),
        this.config.limits.attemptsKept,
        this.registry.bulkFuncs(),
      ]);
      const totalBytes = picked.reduce((sum, p) => sum + p.bytes, 0);
      await pgQueryable(this.pool).rows(SPREAD_BULK_DURATIONS, [picked.map((p) => p.id), picked.map((p) => (elapsedSeconds * p.bytes) / totalBytes)]);
    } finally {
      await session.query({ ...UNLOCK_RUNNING, values: [picked.map((p) => p.id)] });
    }
    const next: TaskRef[] = rows.filter((r) => r.kind === 'next').map((r) => ({ taskId: r.id, collection: r.collection!, func: r.func! }));
    if (next.length > 0) await this.broker.publish(next, PublishPriority.Next);
    for (const s of statuses) {
      if (s === TaskStatus.Success) result.succeeded++;
      else if (s === TaskStatus.Broken) result.broken++;
      else result.errored++;
    }
    result.bytes = picked.reduce((sum, p) => sum + Number(p.size_bytes), 0);
    this.logger.debug(`bulk ${collection}/${func.name}: ${picked.length} tasks, ${result.succeeded} ok, in ${elapsedSeconds.toFixed(3)} s`);
    return result;
  }
}
