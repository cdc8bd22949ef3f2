import type { Statement } from '../../database/queryable.js';
import { CANCELLABLE_STATUSES, PURGEABLE_STATUSES, RETRYABLE_STATUSES } from '../task-status.js';
import { statusList } from './status-list.js';

/**
 * The operator's statements on many tasks: retry, cancel and purge by filter, and their counts.
 * The WHERE clause comes from `filterToSql` (allow-listed columns, values as parameters only);
 * these builders only place it.
 */

const CANCELLABLE = statusList(CANCELLABLE_STATUSES);
const RETRYABLE = statusList(RETRYABLE_STATUSES);
const PURGEABLE = statusList(PURGEABLE_STATUSES);

/**
 * Cancel: the selected unfinished tasks become `broken` / `cancelled`. A running attempt's own
 * finish is guarded by `status = 'started'`, so it can no longer overwrite this. A cancelled
 * attempt leaves a task_attempt row; children waiting (`deferred`) on a cancelled task are queued,
 * as a finish would, so they see it broken instead of waiting for the dispatcher.
 * Parameters: the filter's, then `limit`, error text, attempts kept, bulk funcs.
 * `skipLocked`: by filter, rows a worker holds right now are left for the next call.
 */
export function cancelStatement(where: string, first: number, skipLocked: boolean): Statement {
  const [limit, message, kept, bulk] = [first, first + 1, first + 2, first + 3].map((n) => `$${n}`);
  return {
    text: `
    WITH target AS MATERIALIZED (
           SELECT id, status AS was, attempt, worker, date_started FROM task
            WHERE ${where} AND status IN ${CANCELLABLE}
            ORDER BY id
            LIMIT ${limit}
              FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''}
         ),
         cancelled AS (
           UPDATE task t
              SET status = 'broken', broken_reason = 'cancelled', error = ${message}::text,
                  run_after = NULL, date_finished = now(), date_modified = now()
             FROM target WHERE t.id = target.id
           RETURNING t.id, target.was, target.attempt, target.worker, target.date_started
         ),
         att AS (
           INSERT INTO task_attempt (task_id, attempt, status, broken_reason, error, worker, date_started)
           SELECT id, attempt, 'broken', 'cancelled', ${message}::text, worker, date_started
             FROM cancelled WHERE was = 'started'
         ),
         pruned AS (
           DELETE FROM task_attempt a USING cancelled c
            WHERE a.task_id = c.id AND c.was = 'started' AND a.attempt <= c.attempt - ${kept}::int
         ),
         kids AS (
           SELECT n.id FROM task n
            WHERE n.id IN (SELECT d.next_id FROM task_dependency d JOIN cancelled c ON d.prev_id = c.id)
              AND n.status = 'deferred'
              AND n.id NOT IN (SELECT id FROM cancelled)
            ORDER BY n.id FOR UPDATE SKIP LOCKED
         ),
         queued AS (
           UPDATE task n
              SET status = CASE WHEN n.func = ANY(${bulk}::text[]) THEN 'pending'::task_status ELSE 'queued'::task_status END,
                  date_modified = now()
             FROM kids WHERE n.id = kids.id
           RETURNING n.id, n.collection, n.func, n.priority, n.status
         )
    SELECT 'cancelled' AS kind, id::text AS id, was::text AS was, NULL AS collection, NULL AS func, NULL::smallint AS priority FROM cancelled
    UNION ALL
    SELECT 'next', id::text, NULL, collection, func, priority FROM queued WHERE status = 'queued'`,
  };
}

export interface CancelRow {
  kind: 'cancelled' | 'next';
  id: string;
  was: string | null;
  collection: string | null;
  func: string | null;
  /** A next task's priority. */
  priority: number | null;
}

/**
 * Retry by filter, capped: at most `$first` matching tasks (not running, oldest change first) go
 * back to `pending`; the caller then queues a first slice. The slice is a MATERIALIZED CTE: as an
 * `IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` subquery the planner may rescan it per row, and
 * each rescan skips the rows this statement already updated and returns fresh ones, so the LIMIT
 * does not hold. Parameters: the filter's, then `limit`, resetFailCount.
 */
export function retryStatement(where: string, first: number): Statement {
  return {
    text: `
    WITH slice AS MATERIALIZED (
           SELECT id FROM task
            WHERE ${where} AND status IN ${RETRYABLE}
            ORDER BY date_modified, id
            LIMIT $${first}
              FOR UPDATE SKIP LOCKED
         ),
         changed AS (
           UPDATE task t
              SET status = 'pending', error = '', broken_reason = '', log = '', date_modified = now(),
                  -- A failure's run_after is its policy's retry time: an operator's retry is now.
                  run_after = CASE WHEN t.status IN ('error', 'broken') THEN NULL ELSE t.run_after END,
                  fail_count = CASE WHEN $${first + 1}::bool THEN 0 ELSE t.fail_count END
             FROM slice WHERE t.id = slice.id
           RETURNING t.collection, t.func
         )
    SELECT collection, func, count(*)::int AS n FROM changed GROUP BY collection, func`,
  };
}

/** How many tasks of one (collection, func) a retry by filter reset. */
export interface RetryGroupRow {
  collection: string;
  func: string;
  n: number;
}

/**
 * Purge: deletes finished failures (error, broken) matching the filter, at most `$first` rows.
 * A task another task depends on is kept: deleting it would drop the edge and let the child run
 * without that input. Rows a worker holds are skipped.
 */
export function purgeStatement(where: string, first: number): Statement {
  return {
    text: `
    WITH doomed AS MATERIALIZED (
           SELECT t.id FROM task t
            WHERE ${where} AND t.status IN ${PURGEABLE}
              AND NOT EXISTS (SELECT 1 FROM task_dependency d WHERE d.prev_id = t.id)
            ORDER BY t.id
            LIMIT $${first}
              FOR UPDATE OF t SKIP LOCKED
         )
    DELETE FROM task t USING doomed WHERE t.id = doomed.id`,
  };
}

/** How many tasks a purge would still find. */
export function purgeableCountStatement(where: string): Statement {
  return {
    text: `
    SELECT count(*)::int AS n FROM task t
     WHERE ${where} AND t.status IN ${PURGEABLE}
       AND NOT EXISTS (SELECT 1 FROM task_dependency d WHERE d.prev_id = t.id)`,
  };
}

/** How many tasks matching a filter a retry would reset (any but a running one). */
export function retryableCountStatement(where: string): Statement {
  return { text: `SELECT count(*)::int AS n FROM task WHERE ${where} AND status IN ${RETRYABLE}` };
}

/** How many tasks matching a filter a cancel would change (the unfinished ones). */
export function cancellableCountStatement(where: string): Statement {
  return { text: `SELECT count(*)::int AS n FROM task WHERE ${where} AND status IN ${CANCELLABLE}` };
}

/** The NOTIFY channel cancels are published on (payload: comma-separated task ids); the worker role LISTENs on it. */
export function cancelChannel(schema: string): string {
  return `${schema}_cancel`;
}

/** The database's clock, `seconds` ago: "older than" filters never use a process's clock. */
export const NOW_MINUS_SECONDS: Statement = { text: `SELECT now() - make_interval(secs => $1::double precision) AS at` };
