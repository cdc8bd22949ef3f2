import type { Statement } from '../../database/queryable.js';

/**
 * What follows a finish, for the rows of the CTE `fin` (id, status, attempt): failed attempts past
 * the last `keepParam` pruned, and the next tasks of a success or a broken task queued (bulk funcs,
 * `bulkFuncsParam`, go to pending for the bulk runner); then the finished ids ('done') and the
 * queued next tasks ('next'). Written once for the runner's finish and the bulk runner's.
 */
export function afterFinish(keepParam: string, bulkFuncsParam: string): string {
  return `
         pruned AS (
           DELETE FROM task_attempt a USING fin
            WHERE a.task_id = fin.id AND fin.status IN ('error', 'broken') AND a.attempt <= fin.attempt - ${keepParam}::int
         ),
         kids AS (
           SELECT n.id FROM task n
            WHERE n.id IN (SELECT d.next_id FROM task_dependency d JOIN fin ON d.prev_id = fin.id
                            WHERE fin.status IN ('success', 'broken'))
              AND n.status <> 'started'
              -- A child scheduled for later waits for its time (the due scan queues it). IS NOT NULL:
              -- without it, NOT (… AND NULL) is NULL and a child with no time was never queued.
              AND NOT (n.status = 'pending' AND n.run_after IS NOT NULL AND n.run_after > now())
            ORDER BY n.id FOR UPDATE SKIP LOCKED
         ),
         queued AS (
           UPDATE task n
              SET status = CASE WHEN n.func = ANY(${bulkFuncsParam}::text[]) THEN 'pending'::task_status ELSE 'queued'::task_status END,
                  error = '', broken_reason = '', log = '', date_modified = now()
             FROM kids WHERE n.id = kids.id
           RETURNING n.id, n.collection, n.func, n.priority, n.status
         )
    SELECT 'done' AS kind, id::text AS id, NULL AS collection, NULL AS func, NULL::smallint AS priority, fail_count FROM fin
    UNION ALL
    SELECT 'next', id::text, collection, func, priority, NULL FROM queued WHERE status = 'queued'`;
}

/**
 * Finish a batch in one statement. Each row changes only if it is still `started` by the same
 * attempt (a stale worker, one declared dead meanwhile, changes nothing). Failures leave a
 * task_attempt row (the last $2 kept per task). Children of completed tasks are reset and handed
 * to the broker in the same transaction; a child locked elsewhere (being claimed) is skipped and
 * its claim, waiting FOR SHARE on this parent, sees it finished.
 */
export const FINISH_IF_STARTED: Statement = {
  name: 'laterz_finish_if_started',
  text: `
    WITH v AS (
           -- $1: one JSON array of [id, attempt, status, result (JSON text), error, reason, log,
           -- version, trace, retry in ms (null: none)] per task. JSON.stringify is native; pg's escaping of nine text arrays
           -- element by element was a seventh of a no-op task's cost in the worker.
           SELECT (e->>0)::bigint AS id, (e->>1)::int AS attempt, (e->>2)::task_status AS status, (e->>3)::jsonb AS result,
                  e->>4 AS error, e->>5 AS reason, e->>6 AS log, (e->>7)::int AS version, e->>8 AS trace,
                  (e->>9)::float8 AS retry_ms
             FROM json_array_elements($1::json) AS e
         ),
         -- The row locks, in id order, carrying v's values. Each row is looked up by primary key in
         -- a LATERAL subquery: as a plain join the planner read every row of the status = 'started'
         -- index (dead entries of finished tasks included) into a hash, 130 us per finished task on
         -- a 20,000-task drain; joined to v again in the UPDATE, the generic plan went quadratic.
         -- The status is compared as text so that it is a filter, never an index condition: on a
         -- table of 1M finished tasks the planner took task_active_idx for each lookup (18 us each).
         mine AS (
           SELECT v.* FROM (SELECT * FROM v ORDER BY v.id) v,
                  LATERAL (SELECT 1 FROM task t WHERE t.id = v.id AND t.attempt = v.attempt AND t.status::text = 'started'
                             FOR UPDATE OF t) l
         ),
         fin AS (
           UPDATE task t
              SET status = m.status, result = m.result, error = m.error, broken_reason = m.reason, log = m.log,
                  version = m.version,
                  fail_count = t.fail_count + CASE WHEN m.status IN ('error', 'broken') THEN 1 ELSE 0 END,
                  date_finished = CASE WHEN m.status IN ('pending', 'queued') THEN NULL ELSE now() END,
                  -- A failure waits for its retry (the due scan queues it then), or for nobody.
                  run_after = CASE WHEN m.status IN ('error', 'broken') THEN now() + make_interval(secs => m.retry_ms / 1000) ELSE t.run_after END,
                  date_modified = now()
             FROM mine m
            -- The ids as an array too: the join alone got a sequential scan and a hash on small tables.
            WHERE t.id = m.id AND t.id = ANY ((SELECT array_agg(id) FROM mine)::bigint[])
           RETURNING t.id, t.status, t.attempt, t.worker, t.date_started, m.reason, m.trace, t.fail_count
         ),
         att AS (
           INSERT INTO task_attempt (task_id, attempt, status, broken_reason, error, worker, date_started)
           SELECT fin.id, fin.attempt, fin.status, fin.reason, fin.trace, fin.worker, fin.date_started
             FROM fin
            WHERE fin.status IN ('error', 'broken')
         ),
${afterFinish('$2', '$3')}`,
};

/** FINISH_IF_STARTED's $1: the outcomes as one JSON array of positional rows. */
export function finishRows(
  outcomes: readonly {
    id: string;
    attempt: number;
    status: string;
    result: string | null;
    error: string;
    reason: string;
    log: string;
    version: number;
    trace: string;
    retryInMs?: number | null;
  }[],
): string {
  return JSON.stringify(outcomes.map((o) => [o.id, o.attempt, o.status, o.result, o.error, o.reason, o.log, o.version, o.trace, o.retryInMs ?? null]));
}

export interface FinishRow {
  kind: 'done' | 'next';
  id: string;
  collection: string | null;
  func: string | null;
  /** A next task's priority. */
  priority: number | null;
  /** A finished task's failed attempts, this one included. */
  fail_count: number | null;
}

/** Shutdown: tasks still running after the grace period go back to the queue, attempt-guarded. */
export const HAND_BACK_IF_STARTED: Statement = {
  name: 'laterz_hand_back',
  text: `
    UPDATE task t SET status = 'queued', date_modified = now(), worker = NULL
      FROM unnest($1::bigint[], $2::int[]) AS v(id, attempt)
     WHERE t.id = v.id AND t.attempt = v.attempt AND t.status = 'started'
    RETURNING t.id::text AS "taskId", t.collection, t.func, t.priority`,
};

/** A handler asked for a dependency it lacks: add the edge and send the task round again. */
export const ADD_EDGE_AND_REQUEUE_IF_STARTED: Statement = {
  name: 'laterz_add_edge_requeue',
  text: `
    WITH mine AS (
           UPDATE task SET status = 'queued', log = $5, date_modified = now()
            WHERE id = $1 AND attempt = $2 AND status = 'started'
           RETURNING id, collection, func, priority
         ),
         edge AS (
           INSERT INTO task_dependency (prev_id, next_id, name)
           SELECT $3::bigint, id, $4 FROM mine
               ON CONFLICT (next_id, name) DO UPDATE SET prev_id = EXCLUDED.prev_id
         )
    SELECT id::text AS "taskId", collection, func, priority FROM mine`,
};

/** A handler dropped a dependency: remove the edge and send the task round again. */
export const DROP_EDGE_AND_REQUEUE_IF_STARTED: Statement = {
  name: 'laterz_drop_edge_requeue',
  text: `
    WITH mine AS (
           UPDATE task SET status = 'queued', log = $4, date_modified = now()
            WHERE id = $1 AND attempt = $2 AND status = 'started'
           RETURNING id, collection, func, priority
         ),
         dropped AS (
           DELETE FROM task_dependency d USING mine WHERE d.next_id = mine.id AND d.name = $3
         )
    SELECT id::text AS "taskId", collection, func, priority FROM mine`,
};
