import { Injectable, Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import { Broker, DeliveryBatch, PublishPriority, PublishRef } from '../../broker/broker.js';
import { CLAIM_DELIVERED, CLAIM_QUEUED, CLAIM_QUEUED_FUNCS, ClaimRow } from '../../tasks/sql/claim-runnable.sql.js';
import { LOCK_DELIVERED, LockedRow, MARK_NOT_RUNNABLE, MARK_STARTED_AND_LOCK, PARENTS_FOR_SHARE, ParentRow, QUEUE_BY_ID, QUEUE_CHILDREN } from '../../tasks/sql/claim.sql.js';
import type { Queryable } from '../../database/queryable.js';
import { TaskRegistry } from '../../tasks/task-registry.js';
import { WorkerSession } from '../worker-session.js';
import {
  afterFastPath,
  ClaimedTask,
  FuncVersions,
  parentsByChild,
  planClaim,
  rowsNeedingParents,
  startedTasks,
  toPublish,
} from './claim-decisions.js';

/** Rows the queue statements changed, with the status they left each in. */
type QueuedRow = PublishRef & { status: string };

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

  constructor(
    private readonly registry: TaskRegistry,
    private readonly session: WorkerSession,
    private readonly broker: Broker,
  ) {}

  /**
   * Claims a delivered batch (or takes up to `limit` queued rows, PostgreSQL transport). The fast
   * path starts every plainly runnable row in one statement on the worker session; the rest (a
   * parent not completed or in error, an unknown func, a completed row) go through one transaction
   * that defers, breaks or re-queues them; rows of a paused collection are neither (the statement
   * hands the queued ones back to pending). `isRunning` tells which tasks run here (their advisory
   * locks are kept when a failed claim releases the ones it may have taken). `taken` is how many
   * deliveries the claim took: the batch's refs, or the rows a pull picked.
   */
  async claim(batch: DeliveryBatch, limit: number, isRunning: (id: string) => boolean = () => false): Promise<{ started: ClaimedTask[]; taken: number }> {
    const funcs = this.registry.all();
    const params = [this.worker, funcs.map((f) => f.name), funcs.map((f) => f.version)];
    let rows: ClaimRow[];
    try {
      rows = batch.kind === 'pull'
        ? batch.pull.funcs.length > 0
          ? await this.session.rows<ClaimRow>(CLAIM_QUEUED_FUNCS, [limit, ...params, [...batch.pull.funcs]])
          : await this.session.rows<ClaimRow>(CLAIM_QUEUED, [limit, ...params])
        : await this.session.rows<ClaimRow>(CLAIM_DELIVERED, [[...new Set(batch.refs.map((r) => r.taskId))], ...params]);
    } catch (err) {
      // Session advisory locks survive a failed statement: drop any it took.
      await this.session.releaseStray(isRunning).catch(() => undefined);
      throw err;
    }
    const { started, unsettled } = afterFastPath(rows);
    if (unsettled.length > 0) {
      // The fast path's tasks are started and locked: they run whatever happens here. Rows this
      // claim could not settle stay as they are, for a later delivery or the dispatcher.
      try {
        started.push(...(await this.claimSlow(unsettled, new Map(funcs.map((f) => [f.name, f.version])))));
      } catch (err) {
        this.logger.warn(`claim of ${unsettled.length} task(s) waiting on parents or not runnable failed: ${(err as Error).message}`);
      }
    }
    return { started, taken: batch.kind === 'pull' ? rows.length : batch.refs.length };
  }

  /** The transactional claim of rows the fast path left: defers, breaks or re-queues, starts what it can. */
  private async claimSlow(ids: string[], versions: FuncVersions): Promise<ClaimedTask[]> {
    const attempted: string[] = [];
    let result: { started: ClaimedTask[]; publish: PublishRef[] };
    try {
      result = await this.session.transaction((q) => this.claimIn(q, ids, versions, attempted));
    } catch (err) {
      // Session advisory locks survive a rollback: drop the ones this claim may have taken.
      await this.session.unlock(attempted).catch(() => undefined);
      throw err;
    }
    if (result.publish.length > 0) void this.broker.publish(result.publish, PublishPriority.Next);
    return result.started;
  }

  private async claimIn(q: Queryable, ids: string[], versions: FuncVersions, attempted: string[]): Promise<{ started: ClaimedTask[]; publish: PublishRef[] }> {
    const rows = await q.rows<LockedRow>(LOCK_DELIVERED, [ids]);
    const withParents = rowsNeedingParents(rows, versions);
    const parents = withParents.length > 0 ? await q.rows<ParentRow>(PARENTS_FOR_SHARE, [withParents]) : [];
    const plan = planClaim(rows, parentsByChild(parents), versions);

    // Status and advisory lock in one statement: the dispatcher never sees a `started` row without its lock.
    attempted.push(...plan.start.map((s) => s.row.id));
    const attempts = new Map<string, number>();
    if (plan.start.length > 0) {
      for (const s of await q.rows<{ id: string; attempt: number }>(MARK_STARTED_AND_LOCK, [plan.start.map((s) => s.row.id), this.worker])) {
        attempts.set(s.id, s.attempt);
      }
    }
    const { notRunnable } = plan;
    if (notRunnable.length > 0) {
      await q.rows(MARK_NOT_RUNNABLE, [
        notRunnable.map((n) => n.id),
        notRunnable.map((n) => n.status),
        notRunnable.map((n) => n.reason),
        notRunnable.map((n) => n.error),
        notRunnable.map((n) => n.version),
      ]);
    }
    const queued: QueuedRow[] = [];
    const bulk = this.registry.bulkFuncs();
    if (plan.queueParents.length > 0) queued.push(...(await q.rows<QueuedRow>(QUEUE_BY_ID, [plan.queueParents, bulk])));
    if (plan.queueChildrenOf.length > 0) queued.push(...(await q.rows<QueuedRow>(QUEUE_CHILDREN, [plan.queueChildrenOf, bulk])));
    return { started: startedTasks(plan.start, attempts), publish: toPublish(queued) };
  }
}
