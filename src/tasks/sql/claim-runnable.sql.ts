import type { LockedRow } from './claim.sql.js';
import type { Statement } from '../../database/queryable.js';

/**
 * The claim's fast path, in one statement on the worker session: lock the picked rows (SKIP
 * LOCKED), read the parents of those that have any FOR SHARE (a parent whose finish is committing
 * at this moment is seen finished), and start every row that is plainly runnable — this worker
 * claims its func now ($5 names), it is neither running, failed nor completed, and every parent
 * is completed at its func's version ($3 names and $4 versions of the funcs registered here; a
 * parent of another func is completed at any version) — taking its session advisory lock in the
 * same statement. Every picked row comes back; `started_attempt` is set on the started ones, and
 * `parents` holds their parents' outcomes. A row of a func this worker does not claim is left as
 * it is (the caller hands a queued one back to its queue); another row left unstarted (a parent in
 * error or not completed, a completed row) goes through the transactional claim, which defers,
 * breaks or re-queues as the seed does. $2 is the worker's name.
 * A row of a paused collection (`process = false`) is not started: `paused` is set on it, and a
 * queued one is handed back to `pending`, unbroken, where the dispatcher finds it once the
 * collection is resumed (left queued, the PostgreSQL transport's dequeue would walk past it at
 * every claim, and on RabbitMQ its message is gone). The paused names are read once per claim
 * through collection_paused_idx, which holds the paused collections only.
 * A runnable row whose advisory lock is held (an earlier attempt's handler has not returned yet,
 * here or in another process, though its row was finished, cancelled or handed back) is `busy`:
 * not started, and a queued one is handed back to `pending` the same way. $6 are the tasks whose
 * locks this session holds (running here): a session advisory lock is re-entrant, so
 * pg_try_advisory_lock would take theirs again.
 */
const claimRunnable = (name: string, pick: string): Statement => ({
  name,
  text: `
    WITH paused_names AS MATERIALIZED (SELECT name FROM collection WHERE NOT process),
         picked AS MATERIALIZED (
           SELECT t.id, t.collection, t.func, t.args, t.status, t.version, t.attempt, t.size_bytes, t.priority, t.fail_count, t.retry,
                  EXISTS (SELECT 1 FROM task_dependency d WHERE d.next_id = t.id) AS has_prev,
                  t.collection IN (SELECT name FROM paused_names) AS paused,
                  (t.expires_at IS NOT NULL AND t.expires_at <= now() AND t.status IN ('pending', 'queued', 'deferred', 'error')) AS expired
             FROM ${pick}
         ),
         funcs AS (SELECT * FROM unnest($3::text[], $4::int[]) AS f(func, version)),
         edges AS MATERIALIZED (
           SELECT d.next_id, d.name, d.prev_id FROM task_dependency d
            WHERE d.next_id = ANY ((SELECT array_agg(id) FROM picked WHERE has_prev AND NOT paused)::bigint[])
         ),
         -- Each parent looked up by primary key, in id order (the lock order of every writer). An
         -- ORDER BY over the join let the planner walk all of task_dependency_prev_idx instead.
         parents AS MATERIALIZED (
           SELECT e.next_id, e.name, p.func, p.status, p.version, p.result, p.error, p.broken_reason
             FROM (SELECT * FROM edges ORDER BY prev_id) e,
                  LATERAL (SELECT p.func, p.status, p.version, p.result, p.error, p.broken_reason
                             FROM task p WHERE p.id = e.prev_id FOR SHARE OF p) p
         ),
         blocked AS (
           SELECT DISTINCT pa.next_id FROM parents pa LEFT JOIN funcs f ON f.func = pa.func
            WHERE NOT (pa.status IN ('success', 'broken') AND (f.version IS NULL OR pa.version = f.version))
         ),
         runnable AS MATERIALIZED (
           SELECT p.id, p.id = ANY($6::bigint[]) AS here FROM picked p JOIN funcs f ON f.func = p.func
            WHERE p.func = ANY($5::text[]) AND NOT p.paused AND NOT p.expired AND p.status NOT IN ('started', 'error')
              AND NOT (p.status IN ('success', 'broken') AND p.version = f.version)
              AND NOT (p.has_prev AND p.id IN (SELECT next_id FROM blocked))
         ),
         -- The lock function sees only the runnable ids (materialized): in the UPDATE's own WHERE
         -- the planner could evaluate it on every row a scan visits. CASE, not AND: the lock must
         -- not be tried (and taken again) on a row running here, whatever order AND would take.
         locked AS MATERIALIZED (SELECT id FROM runnable WHERE CASE WHEN here THEN false ELSE pg_try_advisory_lock(id) END),
         busy AS MATERIALIZED (SELECT id FROM runnable WHERE id NOT IN (SELECT id FROM locked)),
         started AS (
           UPDATE task
              SET status = 'started', attempt = attempt + 1, worker = $2,
                  date_started = now(), date_modified = now(), date_finished = NULL
            WHERE id = ANY ((SELECT array_agg(id) FROM locked)::bigint[])
           RETURNING id, attempt
         ),
         handed_back AS (
           UPDATE task SET status = 'pending', date_modified = now()
            WHERE id = ANY ((SELECT array_agg(id) FROM picked
                              WHERE status = 'queued' AND NOT expired AND (paused OR id IN (SELECT id FROM busy)))::bigint[])
         ),
         -- Past its deadline and not started (expiresAt): broken, never run, whoever serves its func.
         expired AS (
           UPDATE task SET status = 'broken', broken_reason = 'expired', error = 'not started by its deadline (expiresAt)',
                  date_finished = now(), date_modified = now()
            WHERE id = ANY ((SELECT array_agg(id) FROM picked WHERE expired)::bigint[])
         ),
         -- Looked up by key in one jsonb object each: a join of these CTEs (no index, estimates of
         -- a generic plan) became a nested loop, quadratic in the batch.
         attempts AS (SELECT jsonb_object_agg(id::text, attempt) AS m FROM started),
         parent_outcomes AS (
           SELECT jsonb_object_agg(next_id::text, list) AS m
             FROM (SELECT next_id, jsonb_agg(jsonb_build_object('name', name, 'status', status, 'result', result,
                                                                'error', error, 'reason', broken_reason)) AS list
                     FROM parents GROUP BY next_id) g
         )
    SELECT p.id::text AS id, p.collection, p.func, p.args, p.status::text AS status, p.version, p.attempt,
           p.size_bytes::bigint AS size_bytes, p.fail_count, p.retry, p.priority, p.has_prev, p.paused, p.expired, p.id IN (SELECT id FROM busy) AS busy,
           ((SELECT m FROM attempts) ->> p.id::text)::int AS started_attempt,
           CASE WHEN p.has_prev THEN (SELECT m FROM parent_outcomes) -> p.id::text END AS parents
      FROM picked p`,
});

/**
 * PostgreSQL transport: the next queued rows of the funcs this worker claims ($5), highest priority
 * first then oldest: another app's tasks on the same database are never picked, nor walked past.
 */
export const CLAIM_QUEUED: Statement = claimRunnable(
  'laterz_claim_queued',
  // Each func's next rows on task_queued_func_idx (func, priority, id), locked as the scan meets them
  // (SKIP LOCKED: concurrent workers go on past each other's rows), then the batch's best $1 of them.
  // Another app's backlog on the same database is never walked. Rows locked here and not picked are
  // released when the statement ends.
  `unnest($5::text[]) AS w(func),
                  LATERAL (SELECT * FROM task t
                            WHERE t.status = 'queued' AND t.func = w.func
                            ORDER BY t.priority DESC, t.id
                            LIMIT $1
                              FOR UPDATE OF t SKIP LOCKED) t
            ORDER BY t.priority DESC, t.id
            LIMIT $1`,
);

/** AMQP: the delivered ids ($1), in id order. */
export const CLAIM_DELIVERED: Statement = claimRunnable(
  'laterz_claim_delivered',
  `task t
            WHERE t.id = ANY($1::bigint[])
            ORDER BY t.id
              FOR UPDATE OF t SKIP LOCKED`,
);

/** A picked row (LOCK_DELIVERED's shape), and what the statement did with it. */
export interface ClaimRow extends LockedRow {
  priority: number;
  /** Of a paused collection: not started, not for the transactional claim (handed back if it was queued). */
  paused: boolean;
  /** Runnable, but its advisory lock is held (an earlier attempt still runs): not started, handed back if it was queued. */
  busy: boolean;
  /** Past its expiresAt: the statement made it broken / expired. */
  expired: boolean;
  /** Set when this statement started the row: the new attempt, its fencing token. */
  started_attempt: number | null;
  parents: { name: string; status: string; result: unknown; error: string; reason: string }[] | null;
}
