import type { PublishRef } from '../broker/broker.js';
import type { Queryable } from '../database/queryable.js';
import { FIND_CYCLE } from './sql/enqueue.sql.js';
import {
  ADD_EDGE_AND_REQUEUE_IF_STARTED,
  DROP_EDGE_AND_REQUEUE_IF_STARTED,
  FINISH_IF_STARTED,
  type FinishRow,
  finishRows,
  HAND_BACK_IF_STARTED,
} from './sql/finish.sql.js';
import { FLUSH_LOGS_IF_STARTED } from './sql/live-log.sql.js';
import { QUEUE_PENDING_SLICE } from './sql/retry.sql.js';

export type { FinishRow };

/** A run's attempt: the fencing token every finish statement is guarded by. */
export interface Attempt {
  id: string;
  attempt: number;
}

/** How one attempt ended, as FINISH_IF_STARTED writes it. */
export interface FinishOutcome extends Attempt {
  status: string;
  /** JSON text, or null. */
  result: string | null;
  error: string;
  reason: string;
  log: string;
  version: number;
  trace: string;
  /** A failure's next attempt, milliseconds from now (run_after); null: no retry. */
  retryInMs: number | null;
}

/**
 * The finish's statements, on `q`: the engine's Db, or the worker session. Every change is guarded
 * by `status = 'started'` and the attempt, so a stale worker's write changes nothing.
 */
export class FinishGateway {
  constructor(private readonly q: Queryable) {}

  /** Writes the outcomes (the last `attemptsKept` failed attempts kept per task) and queues the next tasks: the rows done, and the next ones queued. */
  finishIfStarted(outcomes: readonly FinishOutcome[], attemptsKept: number, bulkFuncs: string[]): Promise<FinishRow[]> {
    return this.q.rows<FinishRow>(FINISH_IF_STARTED, [finishRows(outcomes), attemptsKept, bulkFuncs]);
  }

  /** Shutdown: these attempts go back to the queue; the refs to publish. */
  handBackIfStarted(attempts: readonly Attempt[]): Promise<PublishRef[]> {
    return this.q.rows<PublishRef>(HAND_BACK_IF_STARTED, [attempts.map((t) => t.id), attempts.map((t) => t.attempt)]);
  }

  /** Adds the edge `name` from `prevId` and queues the task again, with its log so far; the ref to publish (none: a stale attempt). */
  addEdgeAndRequeueIfStarted(task: Attempt, prevId: string, name: string, log: string): Promise<PublishRef[]> {
    return this.q.rows<PublishRef>(ADD_EDGE_AND_REQUEUE_IF_STARTED, [task.id, task.attempt, prevId, name, log]);
  }

  /** Drops the edge `name` and queues the task again, with its log so far; the ref to publish (none: a stale attempt). */
  dropEdgeAndRequeueIfStarted(task: Attempt, name: string, log: string): Promise<PublishRef[]> {
    return this.q.rows<PublishRef>(DROP_EDGE_AND_REQUEUE_IF_STARTED, [task.id, task.attempt, name, log]);
  }

  /** Writes the logs so far of running attempts (a row locked elsewhere is skipped); the ids written. */
  async flushLogsIfStarted(ids: string[], attempts: number[], logs: string[]): Promise<string[]> {
    return (await this.q.rows<{ id: string }>(FLUSH_LOGS_IF_STARTED, [ids, attempts, logs])).map((r) => r.id);
  }

  /** Whether an edge prevId -> nextId would close a cycle. */
  async wouldCloseCycle(prevId: string, nextId: string): Promise<boolean> {
    return (await this.q.rows(FIND_CYCLE, [[prevId], [nextId]])).length > 0;
  }

  /** Queues up to `perPair` pending tasks of each (collection, func), oldest first, skipping locked rows. */
  queuePendingSlice(pairs: readonly { collection: string; func: string }[], perPair: number): Promise<PublishRef[]> {
    return this.q.rows<PublishRef>(QUEUE_PENDING_SLICE, [pairs.map((p) => p.collection), pairs.map((p) => p.func), perPair]);
  }
}
