import { Injectable } from '@nestjs/common';
import { Db } from '../../database/db.js';
import type { Queryable } from '../../database/queryable.js';
import { UNLOCK_RUNNING } from '../../tasks/sql/claim.sql.js';
import type { TaskStatus } from '../../tasks/task-status.js';
import { BulkFinishRow, BulkStartRow, FINISH_BULK_IF_STARTED, START_BULK_BATCH } from './sql/bulk.sql.js';

export type { BulkFinishRow, BulkStartRow };

/** One batch to start: its func in its collection, and the limits it is cut by (START_BULK_BATCH). */
export interface BulkBatchStart {
  collection: string;
  func: string;
  /** The func's current version: rows finished below it are taken again. */
  version: number;
  maxTasks: number;
  /** Every registered func and its current version: a task is ready when its parents are completed at theirs. */
  funcs: string[];
  versions: number[];
  overheadBytes: number;
  maxBytes: number;
  /** Names the runner in the started rows. */
  worker: string;
}

/** A batch's outcomes, one array entry per task in id order, written by FINISH_BULK_IF_STARTED. */
export interface BulkBatchFinish {
  ids: string[];
  attempts: number[];
  statuses: TaskStatus[];
  seconds: number[];
  /** The failed tasks' error. */
  error: string;
  log: string;
  version: number;
  /** The attempt rows' error when not empty (a stack). */
  trace: string;
  attemptsKept: number;
  /** The bulk funcs, whose next tasks go back to pending instead of being queued. */
  bulkFuncs: string[];
}

/** The bulk runner's statements: a batch started on the run's session, finished on the pool, its locks released on the session. */
@Injectable()
export class BulkGateway {
  constructor(private readonly db: Db) {}

  /** Starts a batch on `session`, which holds the started tasks' advisory locks until unlockRunning. */
  startBatch(session: Queryable, b: BulkBatchStart): Promise<BulkStartRow[]> {
    return session.rows<BulkStartRow>(START_BULK_BATCH, [
      b.collection,
      b.func,
      b.version,
      b.maxTasks,
      b.funcs,
      b.versions,
      b.overheadBytes,
      b.maxBytes,
      b.worker,
    ]);
  }

  /** Writes the outcomes of the tasks still started at their attempt; the `done` rows, and the `next` tasks to publish. */
  finishIfStarted(f: BulkBatchFinish): Promise<BulkFinishRow[]> {
    return this.db.rows<BulkFinishRow>(FINISH_BULK_IF_STARTED, [
      f.ids,
      f.attempts,
      f.statuses,
      f.seconds,
      f.error,
      f.log,
      f.version,
      f.trace,
      f.attemptsKept,
      f.bulkFuncs,
    ]);
  }

  /** Releases the tasks' advisory locks held by `session`. */
  async unlockRunning(session: Queryable, ids: string[]): Promise<void> {
    await session.rows(UNLOCK_RUNNING, [ids]);
  }
}
