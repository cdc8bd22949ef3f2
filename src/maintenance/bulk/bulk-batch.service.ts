import { failsForGood, type TaskFailure } from '../../tasks/failure-hooks.js';
import { Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { Broker, PublishPriority, PublishRef } from '../../broker/broker.js';
import { AppConfig } from '../../config/app-config.js';
import type { Queryable } from '../../database/queryable.js';
import { HandlerGuard } from '../../runner/run/handler-guard.js';
import { GuardedAbort } from '../../runner/run/run-abort.js';
import { echoTo, LogBuffer } from '../../runner/run/run-context.js';
import { TaskTimeout } from '../../runner/run/task-outcome.js';
import type { BulkTask } from '../../tasks/task-context.js';
import type { BulkHandlerFn } from '../../tasks/task-handler.decorator.js';
import { FuncCatalog } from '../../tasks/func-catalog.js';
import { RegisteredFunc, TaskRegistry } from '../../tasks/task-registry.js';
import { TaskStatus } from '../../tasks/task-status.js';
import { BulkFinishRow, BulkGateway } from './bulk.gateway.js';

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

const TRACE_BYTES = 2048;

/** A batch whose handler has run: its counts, and the write of its outcomes, not begun yet. */
export interface RanBatch {
  result: BulkBatchResult;
  /** Writes the outcomes (on the pool), then releases the tasks' locks (on the session) and publishes their next tasks. */
  finish: () => Promise<void>;
}

/** What a batch came to: the handler's per-task map, or one error for every task. */
type BatchOutcome = { ok: Map<string, boolean> } | { error: string; trace: string };

function failure(err: unknown, prefix = ''): BatchOutcome {
  const e = err instanceof Error ? err : new Error(String(err));
  return { error: `${prefix}${e.name}: ${e.message}`, trace: (e.stack ?? e.message).slice(0, TRACE_BYTES) };
}

/** The error of a batch whose handler returned something other than a Map: names the handler and what it gave. */
function notAMap(func: RegisteredFunc, returned: unknown): string {
  const got = returned === null ? 'null' : typeof returned === 'object' ? `an object (${(returned as object).constructor?.name ?? 'no prototype'})` : typeof returned;
  return `bulk handler ${func.owner} of ${func.name} must return a Map<TaskId, boolean>, got ${got}`;
}

/**
 * One batch of a bulk func in a collection (snoop's get_bulk_tasks_to_run /
 * run_single_batch_for_bulk_task): up to BULK_MAX_TASKS tasks not completed at the current
 * version, cut at BULK_MAX_BYTES, started on the bulk runner's session, the handler called once,
 * and its per-task map written back (success or broken).
 */
@Injectable()
export class BulkBatchService {
  // The bulk runner's lines keep the one context they have always had.
  private readonly logger = new Logger('BulkRunnerService');
  private readonly worker = `${hostname()}:${process.pid}:bulk`;

  constructor(
    private readonly gateway: BulkGateway,
    private readonly registry: TaskRegistry,
    private readonly catalog: FuncCatalog,
    private readonly broker: Broker,
    private readonly config: AppConfig,
    private readonly guard: HandlerGuard,
  ) {}

  /**
   * One batch of one func in one collection, started on `session` (which holds the tasks' advisory
   * locks while they run). `beforeRun` is called once there is something to run.
   */
  async run(session: Queryable, collection: string, func: RegisteredFunc, beforeRun: () => Promise<void> = async () => undefined): Promise<BulkBatchResult> {
    const batch = await this.start(session, collection, func, beforeRun);
    await batch.finish();
    return batch.result;
  }

  /** Starts a batch on `session` and runs its handler; the finish is left to the caller. */
  async start(session: Queryable, collection: string, func: RegisteredFunc, beforeRun: () => Promise<void>): Promise<RanBatch> {
    const limits = this.config.bulk;
    const all = this.registry.all();
    const rows = await this.gateway.startBatch(session, {
      collection,
      func: func.name,
      version: func.version,
      maxTasks: limits.maxTasks,
      funcs: all.map((f) => f.name),
      versions: all.map((f) => f.version),
      overheadBytes: limits.overheadBytes,
      maxBytes: limits.maxBytes,
      worker: this.worker,
    });
    const order = rows.find((r) => r.kind === 'order');
    const started = new Map(rows.filter((r) => r.kind === 'run').map((r) => [r.id!, r]));
    // The handler gets the batch oldest first.
    const picked = (order?.ids ?? []).map((id) => {
      const r = started.get(id)!;
      return { id, attempt: r.attempt!, args: r.args, size: Number(r.size_bytes), bytes: Number(r.size_bytes) + limits.overheadBytes };
    });
    const deferred = rows.filter((r) => r.kind === 'deferred').length;
    const result: BulkBatchResult = { selected: order?.selected ?? 0, ran: picked.length, succeeded: 0, broken: 0, errored: 0, deferred, bytes: 0 };
    if (picked.length === 0) return { result, finish: async () => undefined };

    const log = new LogBuffer(this.config.limits.logBytes, echoTo(this.logger, { func: func.name, collection, tasks: picked.length }));
    const batch: BulkTask[] = picked.map((p) => ({ id: p.id, collection, func: func.name, args: p.args, sizeBytes: p.size }));
    const hooked = await beforeRun().then(
      () => undefined,
      (err: unknown) => failure(err, 'a @BeforeBulk hook failed: '),
    );
    const { outcome, elapsedSeconds, abort } = hooked ? { outcome: hooked, elapsedSeconds: 0, abort: undefined } : await this.callHandler(func, batch, collection, log);

    const statuses = picked.map((p) =>
      'ok' in outcome ? (outcome.ok.get(p.id) === true ? TaskStatus.Success : TaskStatus.Broken) : TaskStatus.Error,
    );
    const failedWith = 'ok' in outcome ? 'the bulk handler did not report this task as done' : outcome.error;
    // Each task's share of the elapsed time follows its size (evenly when no task has any).
    const totalBytes = picked.reduce((sum, p) => sum + p.bytes, 0);
    const seconds = picked.map((p) => elapsedSeconds * (totalBytes > 0 ? p.bytes / totalBytes : 1 / picked.length));
    for (const st of statuses) {
      if (st === TaskStatus.Success) result.succeeded++;
      else if (st === TaskStatus.Broken) result.broken++;
      else result.errored++;
    }
    result.bytes = picked.reduce((sum, p) => sum + p.size, 0);
    const failed = result.broken + result.errored;
    if (failed > 0) {
      // One line per batch, never per task; ids and counts, never args.
      this.logger.warn({
        msg: `bulk batch of ${func.name} in ${collection}: ${failed} of ${picked.length} tasks failed: ${failedWith}`,
        func: func.name, collection, tasks: picked.length, failed, firstId: picked[0].id, error: failedWith,
      });
    }
    this.logger.debug(`bulk ${collection}/${func.name}: ${picked.length} tasks, ${result.succeeded} ok, in ${elapsedSeconds.toFixed(3)} s`);

    // In id order: the finish locks the rows in the order of its arrays.
    const byId = picked.map((_, i) => i).sort((a, b) => (BigInt(picked[a].id) < BigInt(picked[b].id) ? -1 : 1));
    const ids = byId.map((i) => picked[i].id);
    const finish = async () => {
      let finished: BulkFinishRow[];
      try {
        finished = await this.gateway.finishIfStarted({
          ids,
          attempts: byId.map((i) => picked[i].attempt),
          statuses: byId.map((i) => statuses[i]),
          seconds: byId.map((i) => seconds[i]),
          error: failedWith,
          log: log.text(),
          version: func.version,
          trace: 'trace' in outcome ? outcome.trace : '',
          attemptsKept: this.config.limits.attemptsKept,
          bulkFuncs: this.catalog.bulkFuncs(),
        });
      } finally {
        // A handler that outlived its timeout, deaf to its signal, still works on these tasks:
        // their locks stay held (no retry starts them meanwhile) until it returns, and this run of
        // the bulk runner waits for it.
        if (abort?.handlerRunning) {
          this.logger.warn(`bulk batch of ${func.name} in ${collection} (${ids.length} tasks from ${ids[0]}): its handler has not returned after its outcome; its tasks stay locked and the bulk runner waits for it`);
          await abort.whenHandlerSettled();
        }
        // After the commit: the rows are finished by then, so the dispatcher cannot take one for
        // dead. After a failure the tasks stay started: released, the dispatcher finds them dead
        // and the tiers retry them.
        await this.gateway.unlockRunning(session, ids).catch((err: Error) => this.logger.warn(`bulk unlock failed: ${err.message}`));
      }
      const next: PublishRef[] = finished
        .filter((r) => r.kind === 'next')
        .map((r) => ({ taskId: r.id, collection: r.collection!, func: r.func!, priority: r.priority! }));
      if (next.length > 0) await this.broker.publish(next, PublishPriority.Next);
      void this.registry.failureHooks.report(this.failedForGood(finished, picked, statuses, collection, func.name, failedWith));
    };
    return { result, finish };
  }

  /** The batch's tasks that failed for good (failsForGood; bulk funcs keep the tiers rule): what the failure hooks get. */
  private failedForGood(
    finished: readonly BulkFinishRow[],
    picked: readonly { id: string; attempt: number }[],
    statuses: readonly string[],
    collection: string,
    func: string,
    error: string,
  ): TaskFailure[] {
    if (this.registry.failureHooks.size === 0) return [];
    const failCounts = new Map(finished.filter((r) => r.kind === 'done').map((r) => [r.id, r.fail_count ?? 0]));
    return picked.flatMap((p, i) => {
      const status = statuses[i];
      const failCount = failCounts.get(p.id);
      if (failCount === undefined || (status !== TaskStatus.Broken && status !== TaskStatus.Error)) return [];
      if (!failsForGood({ status, failCount }, { tiers: this.config.dispatch.retryTiers })) return [];
      const reason = status === TaskStatus.Broken ? 'bulk_item_failed' : '';
      return [{ taskId: p.id, collection, func, attempt: p.attempt, status, reason, error, failCount }];
    });
  }

  /**
   * One call of the handler on the batch, under the func's timeout and the handler guard (a
   * process.exit or an error escaping the handler's promise chain fails the batch, not the scheduler).
   */
  private async callHandler(func: RegisteredFunc, batch: BulkTask[], collection: string, log: LogBuffer): Promise<{ outcome: BatchOutcome; elapsedSeconds: number; abort: GuardedAbort }> {
    const abort = new GuardedAbort(() => `bulk batch of ${batch.length} ${func.name} tasks (${batch[0].id}, …) of ${collection}`);
    const timer = setTimeout(() => abort.abort(new TaskTimeout(func.timeoutMs)), func.timeoutMs);
    const t0 = performance.now();
    let outcome: BatchOutcome;
    try {
      const returned = await abort.race(
        this.guard.run(abort, () => (func.run as BulkHandlerFn)(batch, { collection, func: func.name, signal: abort.signal, logger: log })),
      );
      outcome = returned instanceof Map ? { ok: returned } : { error: notAMap(func, returned), trace: '' };
    } catch (err) {
      outcome = failure(err);
    } finally {
      clearTimeout(timer);
    }
    return { outcome, elapsedSeconds: (performance.now() - t0) / 1000, abort };
  }
}
