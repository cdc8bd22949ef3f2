import type { Statement } from '../../database/queryable.js';
import type { TaskStatus } from '../task-status.js';

/** One task's status and outcome, by id (TasksService.get). */
export const TASK_STATE_BY_ID: Statement = {
  name: 'laterz_task_state',
  text: `
    SELECT id::text AS id, collection, func, status::text AS status, version, result, error,
           broken_reason AS "brokenReason", fail_count AS "failCount", date_finished AS "dateFinished"
      FROM task
     WHERE id = $1`,
};

/** A task as TasksService.get reads it: where it stands, and what its last run left. */
export interface TaskStateRow {
  id: string;
  collection: string;
  func: string;
  status: TaskStatus;
  /** The func version that produced the result (or is running it). */
  version: number;
  /** The handler's return value once it succeeded; null before. */
  result: unknown;
  /** The last failure's message ('' when none). */
  error: string;
  /** Why it is broken ('' unless status is broken). */
  brokenReason: string;
  failCount: number;
  dateFinished: Date | null;
}
