import type { Statement } from '../../../database/queryable.js';

/*
 * The due scan's statements. Every row that waits for a time is in task_due_idx (run_after) WHERE
 * run_after IS NOT NULL AND status IN ('pending', 'error', 'broken'): pending tasks with a runAfter
 * and failures with a retry due. A failure with no retry left has no run_after, and a row handed to
 * the broker (queued) leaves the index, so the scan reads only what waits, oldest due first.
 */

/**
 * Queues up to $1 rows whose time has come, oldest due first, on task_due_idx: non-bulk funcs to
 * `queued` (returned, to publish), bulk funcs ($2) to `pending` without a time (the bulk runner
 * takes them). A failure's error and reason are cleared as the retry tiers did. Left alone: rows of
 * paused collections, and rows whose advisory lock is held (an earlier attempt's handler has not
 * returned: it is retried once it has). SKIP LOCKED: replicas scanning at once take different rows.
 */
export const QUEUE_DUE: Statement = {
  name: 'laterz_queue_due',
  text: `
    WITH held AS MATERIALIZED (
           SELECT (l.classid::bigint << 32) | l.objid::bigint AS id
             FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ),
         paused AS MATERIALIZED (SELECT name FROM collection WHERE NOT process),
         due AS (
           SELECT id FROM task
            WHERE run_after <= now() AND status IN ('pending', 'error', 'broken')
              AND collection NOT IN (SELECT name FROM paused)
              AND id NOT IN (SELECT id FROM held)
            ORDER BY run_after
            LIMIT $1
              FOR UPDATE SKIP LOCKED
         )
    UPDATE task t
       SET status = CASE WHEN t.func = ANY($2::text[]) THEN 'pending'::task_status ELSE 'queued'::task_status END,
           run_after = CASE WHEN t.func = ANY($2::text[]) THEN NULL ELSE t.run_after END,
           error = CASE WHEN t.status = 'pending' THEN t.error ELSE '' END,
           broken_reason = CASE WHEN t.status = 'pending' THEN t.broken_reason ELSE '' END,
           date_modified = now()
     WHERE t.id = ANY (ARRAY(SELECT id FROM due))
    RETURNING t.id::text AS "taskId", t.collection, t.func, t.priority, t.status::text AS status`,
};

export interface DueRow {
  taskId: string;
  collection: string;
  func: string;
  priority: number;
  status: string;
}
