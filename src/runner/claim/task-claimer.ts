import { Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { Broker, DeliveryBatch, PublishPriority, PublishRef } from '../../broker/broker.js';
import type { Queryable } from '../../database/queryable.js';
import { ClaimGateway, ClaimRow, QueuedRow } from '../../tasks/claim.gateway.js';
import { FuncCatalog } from '../../tasks/func-catalog.js';
import { expiredFailure } from '../../tasks/failure-hooks.js';
import { TaskRegistry } from '../../tasks/task-registry.js';
import { WorkerSession } from '../worker-session.js';
import {
  afterFastPath,
  ClaimedFuncs,
  ClaimedTask,
  FuncVersions,
  parentsByChild,
  planClaim,
  rowsNeedingParents,
  startedTasks,
  toPublish,
} from './claim-decisions.js';

/** What the claim must know of the runs of this process (their locks are on the worker session). */
export interface HeldHere {
  /**
   * Tasks whose handlers run here and have not returned (given up ones included): none is started
   * again meanwhile. A session lock is re-entrant, so the claim's try-lock alone would take theirs
   * again. (A run whose handler has returned may still hold its lock for a moment: taken twice
   * then, it is released once by each run.)
   */
  running(): string[];
  /** Whether a run here holds this task's lock. */
  holds(id: string): boolean;
}

const NOTHING_HERE: HeldHere = { running: () => [], holds: () => false };

/**
 * Claim (short transaction on the worker session): lock the delivered rows SKIP LOCKED, resolve
 * their dependencies, mark the runnable ones `started` and take their advisory locks. A fixed
 * number of statements per batch, whatever its size: one for a batch of plainly runnable rows.
 * What happens to each row is decided in claim-decisions.ts; this runs the statements around it.
 */
@Injectable()
export class TaskClaimer {
  readonly worker = `${hostname()}:${process.pid}`;
  private readonly logger = new Logger(TaskClaimer.name);
  /** The fast path's statements, on the worker session itself (its advisory locks outlive the statement). */
  private readonly onSession: ClaimGateway;

  constructor(
    private readonly registry: TaskRegistry,
    private readonly catalog: FuncCatalog,
    private readonly session: WorkerSession,
    private readonly broker: Broker,
  ) {
    this.onSession = new ClaimGateway(session);
  }

  /**
   * Claims a delivered batch (or takes up to `limit` queued rows, PostgreSQL transport), of the
   * funcs this worker claims now (FuncCatalog.claimable): a pull takes no other func's rows, and a
   * delivered row of another func is left as it is (a queued one is published again, for the
   * worker that claims it). The fast path starts every plainly runnable row in one statement on
   * the worker session; the rest (a parent not completed or in error, a completed row) go through
   * one transaction that defers, breaks or re-queues them; rows of a paused collection are neither
   * (the statement hands the queued ones back to pending). `here`: the runs of this process, whose
   * handlers' tasks are not started again, and whose locks are kept when a failed claim releases
   * the ones it may have taken. A runnable row whose lock another session holds is handed back to
   * pending the same way (an earlier attempt's handler has not returned there).
   * `taken` is how many deliveries the claim took: the batch's refs, or the rows a pull picked.
   */
  async claim(batch: DeliveryBatch, limit: number, here: HeldHere = NOTHING_HERE): Promise<{ started: ClaimedTask[]; taken: number }> {
    const funcs = this.registry.all();
    const claims: ClaimedFuncs = this.catalog.claimableNames();
    const running = here.running();
    let rows: ClaimRow[];
    try {
      if (batch.kind === 'pull') {
        const wanted = batch.pull.funcs.filter((f) => claims.has(f));
        rows = wanted.length === 0 ? [] : await this.onSession.claimQueued(limit, this.worker, funcs, wanted, running);
      } else {
        rows = await this.onSession.claimDelivered([...new Set(batch.refs.map((r) => r.taskId))], this.worker, funcs, [...claims], running);
      }
    } catch (err) {
      // Session advisory locks survive a failed statement: drop any it took.
      await this.session.releaseStray((id) => here.holds(id)).catch(() => undefined);
      throw err;
    }
    const { started, unsettled: settleable, handBack } = afterFastPath(rows, claims);
    // Rows the statement expired are final: the failure hooks hear of them.
    const expired = rows.filter((r) => r.expired);
    if (expired.length > 0) void this.registry.failureHooks.report(expired.map(expiredFailure));
    // Nor does the transactional claim start a task whose handler runs here.
    const unsettled = running.length === 0 ? settleable : settleable.filter((id) => !running.includes(id));
    if (handBack.length > 0) void this.broker.publish(handBack, PublishPriority.Dispatch);
    if (unsettled.length > 0) {
      // The fast path's tasks are started and locked: they run whatever happens here. Rows this
      // claim could not settle stay as they are, for a later delivery or the dispatcher.
      try {
        started.push(...(await this.claimSlow(unsettled, new Map(funcs.map((f) => [f.name, f.version])), claims)));
      } catch (err) {
        this.logger.warn(`claim of ${unsettled.length} task(s) waiting on parents or not runnable failed: ${(err as Error).message}`);
      }
    }
    return { started, taken: batch.kind === 'pull' ? rows.length : batch.refs.length };
  }

  /** The transactional claim of rows the fast path left: defers, breaks or re-queues, starts what it can. */
  private async claimSlow(ids: string[], versions: FuncVersions, claims: ClaimedFuncs): Promise<ClaimedTask[]> {
    const attempted: string[] = [];
    let result: { started: ClaimedTask[]; publish: PublishRef[] };
    try {
      result = await this.session.transaction((q) => this.claimIn(q, ids, versions, claims, attempted));
    } catch (err) {
      // Session advisory locks survive a rollback: drop the ones this claim may have taken.
      await this.session.unlock(attempted).catch(() => undefined);
      throw err;
    }
    if (result.publish.length > 0) void this.broker.publish(result.publish, PublishPriority.Next);
    return result.started;
  }

  private async claimIn(
    q: Queryable,
    ids: string[],
    versions: FuncVersions,
    claims: ClaimedFuncs,
    attempted: string[],
  ): Promise<{ started: ClaimedTask[]; publish: PublishRef[] }> {
    const store = new ClaimGateway(q);
    const rows = await store.lockDelivered(ids);
    const withParents = rowsNeedingParents(rows, versions, claims);
    const parents = withParents.length > 0 ? await store.parentsForShare(withParents) : [];
    const plan = planClaim(rows, parentsByChild(parents), versions, claims);

    // Status and advisory lock in one statement: the dispatcher never sees a `started` row without its lock.
    attempted.push(...plan.start.map((s) => s.row.id));
    const attempts = new Map<string, number>();
    if (plan.start.length > 0) {
      for (const s of await store.markStartedIfLocked(plan.start.map((s) => s.row.id), this.worker)) {
        attempts.set(s.id, s.attempt);
      }
    }
    const { notRunnable } = plan;
    if (notRunnable.length > 0) await store.markNotRunnable(notRunnable);
    const queued: QueuedRow[] = [];
    const bulk = this.catalog.bulkFuncs();
    if (plan.queueParents.length > 0) queued.push(...(await store.queueByIdIfNotStarted(plan.queueParents, bulk)));
    if (plan.queueChildrenOf.length > 0) queued.push(...(await store.queueChildrenIfNotStarted(plan.queueChildrenOf, bulk)));
    return { started: startedTasks(plan.start, attempts), publish: toPublish(queued) };
  }
}
