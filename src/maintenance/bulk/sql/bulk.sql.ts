import type { Statement } from '../../../database/queryable.js';
import { afterFinish } from '../../../tasks/sql/finish.sql.js';

/**
 * Starts one batch of one bulk func in one collection, in one statement on the bulk runner's
 * session (so the tasks' advisory locks are that session's):
 * - candidates: not completed at the current version ($3), oldest first, at most $4, locked SKIP
 *   LOCKED. One LIMITed range per waiting status (each walked in date_modified order on
 *   task_active_idx: a backlog of 100,000 costs $4 index entries, not 100,000) and one for
 *   outdated rows (task_version_idx; an operator's cancel stays). `error` rows are not taken: a
 *   failed batch waits for the dispatcher's retry tiers (PEND_FAILED_TIER sends it back to
 *   pending), like any failed task; taken here, it ran again at every run, whatever its fail count.
 *   `ready`: every parent completed (parents' current versions as $5 funcs / $6 versions; unknown
 *   funcs count as current).
 * - candidates that are not ready become `deferred`;
 * - the ready ones are taken in order while their size_bytes + $7 each add up to at most $8 (the
 *   first always), advisory-locked, and marked started: attempt + 1 fences them like a worker's
 *   claim; $9 names the runner.
 * Rows: `run` (id, attempt, args, size), `deferred` (id), and one `order` row whose `ids` are the
 * started ids in date_modified order, and whose `selected` is the number of candidates read.
 * Rows are updated through `id = ANY (ARRAY(…))`, by primary key: no join of batch-sized sets.
 */
export const START_BULK_BATCH: Statement = {
  name: 'laterz_bulk_start',
  text: `
    WITH cand AS MATERIALIZED (
           SELECT t.id, t.date_modified, t.size_bytes,
                  NOT EXISTS (
                    SELECT 1 FROM task_dependency d
                      JOIN task p ON p.id = d.prev_id
                      LEFT JOIN unnest($5::text[], $6::int[]) AS f(func, version) ON f.func = p.func
                     WHERE d.next_id = t.id
                       AND NOT (p.status IN ('success', 'broken') AND (f.version IS NULL OR p.version = f.version))
                  ) AS ready
             FROM task t
            WHERE t.id = ANY (ARRAY(
                    (SELECT id FROM task WHERE collection = $1 AND func = $2 AND status = 'pending' ORDER BY date_modified LIMIT $4)
                    UNION ALL
                    (SELECT id FROM task WHERE collection = $1 AND func = $2 AND status = 'deferred' ORDER BY date_modified LIMIT $4)
                    UNION ALL
                    (SELECT id FROM task WHERE collection = $1 AND func = $2 AND status = 'queued' ORDER BY date_modified LIMIT $4)
                    UNION ALL
                    (SELECT id FROM task WHERE collection = $1 AND func = $2
                        AND version < $3 AND status IN ('success', 'broken') AND broken_reason <> 'cancelled'
                      LIMIT $4)))
              AND t.status <> 'started'
            ORDER BY t.date_modified, t.id
            LIMIT $4
              FOR UPDATE OF t SKIP LOCKED
         ),
         sized AS (
           SELECT id, date_modified,
                  sum(size_bytes + $7) OVER w AS running, row_number() OVER w AS n
             FROM cand WHERE ready
           WINDOW w AS (ORDER BY date_modified, id ROWS UNBOUNDED PRECEDING)
         ),
         locked AS MATERIALIZED (
           SELECT id, n FROM sized WHERE CASE WHEN running <= $8 OR n = 1 THEN pg_try_advisory_lock(id) ELSE false END
         ),
         waiting AS (
           UPDATE task SET status = 'deferred', date_modified = now()
            WHERE id = ANY (ARRAY(SELECT id FROM cand WHERE NOT ready))
           RETURNING id
         ),
         started AS (
           UPDATE task SET status = 'started', attempt = attempt + 1, worker = $9, date_started = now(),
                  date_modified = now(), date_finished = NULL
            WHERE id = ANY (ARRAY(SELECT id FROM locked))
           RETURNING id, attempt, args, size_bytes
         )
    SELECT 'run' AS kind, id::text AS id, attempt, args, size_bytes::bigint AS size_bytes, NULL::text[] AS ids, NULL::int AS selected FROM started
    UNION ALL
    SELECT 'deferred', id::text, NULL, NULL, NULL, NULL, NULL FROM waiting
    UNION ALL
    SELECT 'order', NULL, NULL, NULL, NULL,
           (SELECT array_agg(id::text ORDER BY n) FROM locked), (SELECT count(*)::int FROM cand)`,
};

export interface BulkStartRow {
  kind: 'run' | 'deferred' | 'order';
  id: string | null;
  attempt: number | null;
  args: unknown;
  size_bytes: string | null;
  ids: string[] | null;
  selected: number | null;
}

/**
 * Finishes a batch in one statement on a pool connection, beside the next batch's start on the
 * runner's session, as the engine's FINISH_IF_STARTED does (attempt-guarded, attempt rows for
 * failures with the last $9 kept, children reset and returned for publishing; $10: bulk funcs,
 * whose children go back to pending); the session releases the advisory locks after the commit.
 * It also spreads the batch's elapsed time over its tasks: date_started = date_finished - $4
 * seconds (the engine's statement has no per-task start, and a third write of every row to add
 * one would cost as much as this whole statement). Per task: $1 id, $2 attempt, $3
 * status, $4 seconds; per batch: $5 the failures' error, $6 the log, $7 the func's version, $8
 * (when not empty) the attempt rows' error (a stack). Bulk rows carry no result.
 * Each row is found by primary key from its array position (fixed-width arrays: O(1) each), so no
 * plan can join the batch to itself: a join of the id array with the rows, planned with a guessed
 * size, ran as a nested loop quadratic in the batch. Rows lock in array order (the caller sorts).
 */
export const FINISH_BULK_IF_STARTED: Statement = {
  name: 'laterz_bulk_finish',
  text: `
    WITH fin AS (
           UPDATE task t
              SET status = ($3::task_status[])[i],
                  result = NULL,
                  error = CASE WHEN ($3::task_status[])[i] = 'success' THEN '' ELSE $5 END,
                  broken_reason = CASE WHEN ($3::task_status[])[i] = 'broken' THEN 'bulk_item_failed' ELSE '' END,
                  log = $6, version = $7,
                  fail_count = t.fail_count + CASE WHEN ($3::task_status[])[i] IN ('error', 'broken') THEN 1 ELSE 0 END,
                  date_started = now() - make_interval(secs => ($4::float8[])[i]),
                  date_finished = now(), date_modified = now()
             FROM generate_subscripts($1::bigint[], 1) AS i
            WHERE t.id = ($1::bigint[])[i] AND t.attempt = ($2::int[])[i] AND t.status = 'started'
           RETURNING t.id, t.status, t.attempt, t.worker, t.date_started, t.broken_reason, t.error, t.fail_count
         ),
         att AS (
           INSERT INTO task_attempt (task_id, attempt, status, broken_reason, error, worker, date_started)
           SELECT id, attempt, status, broken_reason, COALESCE(NULLIF($8, ''), error), worker, date_started
             FROM fin WHERE status IN ('error', 'broken')
         ),
${afterFinish('$9', '$10')}`,
};

export interface BulkFinishRow {
  kind: 'done' | 'next';
  id: string;
  collection: string | null;
  func: string | null;
  /** A next task's priority. */
  priority: number | null;
  /** A finished task's failed attempts, this one included. */
  fail_count: number | null;
}
