import type { Statement } from '../../database/queryable.js';
import type { TaskStatus } from '../task-status.js';

/** Retry one task: anything but a running one goes back to the queue (bulk funcs: to pending). */
export const RETRY_TASK_IF_NOT_STARTED: Statement = {
  name: 'laterz_retry_task',
  text: `
    UPDATE task
       SET status = CASE WHEN func = ANY($2::text[]) THEN 'pending'::task_status ELSE 'queued'::task_status END,
           error = '', broken_reason = '', log = '', date_modified = now(),
           -- A failure's run_after is its policy's retry time: an operator's retry is now.
           run_after = CASE WHEN status IN ('error', 'broken') THEN NULL ELSE run_after END,
           fail_count = CASE WHEN $3::bool THEN 0 ELSE fail_count END
     WHERE id = $1 AND status <> 'started'
    RETURNING id::text AS id, collection, func, priority, status::text AS status`,
};

/** The task a retry reset, with the status it now has (queued, or pending for a bulk func). */
export interface RetriedRow {
  id: string;
  collection: string;
  func: string;
  priority: number;
  status: TaskStatus;
}

export const TASK_STATUS_BY_ID: Statement = {
  name: 'laterz_task_status',
  text: `SELECT id::text AS id, status::text AS status FROM task WHERE id = $1`,
};

/**
 * Hands a slice of pending tasks of the given (collection, func) pairs to the broker,
 * oldest first, skipping rows another transaction holds. On task_active_idx.
 */
export const QUEUE_PENDING_SLICE: Statement = {
  name: 'laterz_queue_pending_slice',
  text: `
    UPDATE task t SET status = 'queued', date_modified = now()
      FROM (SELECT p.id
              FROM unnest($1::text[], $2::text[]) AS k(collection, func)
              CROSS JOIN LATERAL (
                SELECT id FROM task
                 WHERE collection = k.collection AND func = k.func AND status = 'pending'
                   AND (run_after IS NULL OR run_after <= now())
                 ORDER BY date_modified
                 LIMIT $3
                   FOR UPDATE SKIP LOCKED) p) s
     WHERE t.id = s.id
    RETURNING t.id::text AS "taskId", t.collection, t.func, t.priority`,
};
