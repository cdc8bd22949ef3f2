import type { Statement } from '../../database/queryable.js';

/**
 * Claim, step 1: lock the delivered rows; a row another worker holds is skipped (it is being
 * claimed or finished there). Says which rows have parents and children so the next steps run
 * only when needed.
 */
export const LOCK_DELIVERED: Statement = {
  name: 'laterz_lock_delivered',
  text: `
    SELECT t.id::text AS id, t.collection, t.func, t.args, t.status::text AS status, t.version, t.attempt,
           t.size_bytes::bigint AS size_bytes, t.fail_count, t.retry,
           EXISTS (SELECT 1 FROM task_dependency d WHERE d.next_id = t.id) AS has_prev
      FROM task t
     WHERE t.id = ANY($1::bigint[])
     ORDER BY t.id
       FOR UPDATE OF t SKIP LOCKED`,
};

export interface LockedRow {
  id: string;
  collection: string;
  func: string;
  args: unknown;
  status: string;
  version: number;
  attempt: number;
  size_bytes: string;
  /** Failed attempts so far (the retry policy's count). */
  fail_count: number;
  /** The enqueue's retry override, or null. */
  retry: unknown;
  has_prev: boolean;
}

/**
 * Claim, step 2: the parents of the locked rows, read FOR SHARE in id order so a parent whose
 * finish is committing at this moment is seen finished, never missed.
 */
export const PARENTS_FOR_SHARE: Statement = {
  name: 'laterz_parents_for_share',
  text: `
    SELECT d.next_id::text AS next_id, d.name, p.id::text AS id, p.func, p.status::text AS status, p.version,
           p.result, p.error, p.broken_reason
      FROM task_dependency d
      JOIN task p ON p.id = d.prev_id
     WHERE d.next_id = ANY($1::bigint[])
     ORDER BY p.id
       FOR SHARE OF p`,
};

export interface ParentRow {
  next_id: string;
  name: string;
  id: string;
  func: string;
  status: string;
  version: number;
  result: unknown;
  error: string;
  broken_reason: string;
}

/**
 * Claim, step 3: the runnable rows become `started` (attempt + 1 is the fencing token) and the
 * worker's session takes their advisory locks in the same statement. It runs on that session, so
 * the locks outlive the transaction; a row whose lock another session holds is left alone.
 */
export const MARK_STARTED_AND_LOCK: Statement = {
  name: 'laterz_mark_started_lock',
  // The lock function sees only the batch's ids: in the UPDATE's own WHERE the planner could
  // evaluate it on every row a scan visits (a seq scan would lock the whole table).
  text: `
    WITH locked AS MATERIALIZED (
           SELECT id FROM unnest($1::bigint[]) AS x(id) WHERE pg_try_advisory_lock(id)
         )
    UPDATE task
       SET status = 'started', attempt = attempt + 1, worker = $2,
           date_started = now(), date_modified = now(), date_finished = NULL
      FROM locked
     WHERE task.id = locked.id
    RETURNING task.id::text AS id, task.attempt`,
};

/** Claim outcomes other than started: deferred (parent not completed) or broken (parent in error, unknown func). */
export const MARK_NOT_RUNNABLE: Statement = {
  name: 'laterz_mark_not_runnable',
  text: `
    UPDATE task t
       SET status = v.status, broken_reason = v.reason, error = v.error, date_modified = now(),
           date_finished = CASE WHEN v.status = 'broken' THEN now() ELSE NULL END,
           version = COALESCE(v.version, t.version)
      FROM unnest($1::bigint[], $2::task_status[], $3::text[], $4::text[], $5::int[]) AS v(id, status, reason, error, version)
     WHERE t.id = v.id`,
};

/**
 * Hands tasks to the broker: parents a child waits for, and the children of a completed task.
 * Running ones are left alone, and so are pending ones scheduled for later (the due scan queues
 * them at their time); bulk funcs go to pending (the bulk runner takes them).
 */
export const QUEUE_BY_ID: Statement = {
  name: 'laterz_queue_by_id',
  text: `
    UPDATE task t
       SET status = CASE WHEN t.func = ANY($2::text[]) THEN 'pending'::task_status ELSE 'queued'::task_status END,
           date_modified = now()
      FROM (SELECT id FROM task WHERE id = ANY($1::bigint[]) AND status <> 'started'
               -- A parent scheduled for later waits for its time, whoever depends on it.
               AND NOT (status = 'pending' AND run_after IS NOT NULL AND run_after > now())
             ORDER BY id FOR UPDATE SKIP LOCKED) s
     WHERE t.id = s.id
    RETURNING t.id::text AS "taskId", t.collection, t.func, t.priority, t.status::text AS status`,
};

/** Children of these tasks, handed to the broker (a completed task delivered again only queues them). */
export const QUEUE_CHILDREN: Statement = {
  name: 'laterz_queue_children',
  text: `
    UPDATE task t
       SET status = CASE WHEN t.func = ANY($2::text[]) THEN 'pending'::task_status ELSE 'queued'::task_status END,
           error = '', broken_reason = '', log = '', date_modified = now()
      FROM (SELECT id FROM task
             WHERE id IN (SELECT next_id FROM task_dependency WHERE prev_id = ANY($1::bigint[]))
               AND status <> 'started' AND NOT (status = 'pending' AND run_after IS NOT NULL AND run_after > now())
             ORDER BY id FOR UPDATE SKIP LOCKED) s
     WHERE t.id = s.id
    RETURNING t.id::text AS "taskId", t.collection, t.func, t.priority, t.status::text AS status`,
};

/** The task-id advisory locks this session holds (single bigint keys: classid is the high half, objid the low). */
export const HELD_TASK_LOCKS: Statement = {
  name: 'laterz_held_task_locks',
  text: `
    SELECT ((classid::bigint << 32) | objid::bigint)::text AS id
      FROM pg_locks
     WHERE locktype = 'advisory' AND objsubid = 1 AND pid = pg_backend_pid() AND granted`,
};

/** Releases session advisory locks of running tasks (on the session that holds them). */
export const UNLOCK_RUNNING: Statement = {
  name: 'laterz_unlock_running',
  text: `SELECT count(*) FILTER (WHERE pg_advisory_unlock(x))::int AS n FROM unnest($1::bigint[]) AS x`,
};

/**
 * After the worker session was lost (and its locks with it): takes again the locks of the tasks
 * whose handlers still run here, skipping those this session holds already (re-entrant: taken
 * twice, a lock would need two unlocks). Returns the ids whose lock another session holds now.
 */
export const RELOCK_RUNNING: Statement = {
  name: 'laterz_relock_running',
  text: `
    WITH mine AS MATERIALIZED (
           SELECT (classid::bigint << 32) | objid::bigint AS id
             FROM pg_locks
            WHERE locktype = 'advisory' AND objsubid = 1 AND pid = pg_backend_pid() AND granted
         )
    SELECT x::text AS id
      FROM unnest($1::bigint[]) AS x
     WHERE NOT CASE WHEN x IN (SELECT id FROM mine) THEN true ELSE pg_try_advisory_lock(x) END`,
};
