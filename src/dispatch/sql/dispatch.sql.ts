import type { Statement } from '../../tasks/sql/queryable.js';

/*
 * The dispatcher's statements, one per branch. Each takes ($1 collection, $2 func, $3 limit, …),
 * locks what it takes SKIP LOCKED, and reads through task_active_idx
 * (collection, func, status, date_modified) or task_version_idx (collection, func, version, status).
 */

const queueWhere = (where: string, order: string, setExtra = '') => `
  UPDATE task t SET status = 'queued', date_modified = now()${setExtra}
    FROM (SELECT id FROM task
           WHERE collection = $1 AND func = $2 AND ${where}
           ${order}
           LIMIT $3
             FOR UPDATE SKIP LOCKED) s
   WHERE t.id = s.id
  RETURNING t.id::text AS "taskId", t.collection, t.func`;

/** Pending tasks, newest first (they finish the batches already begun). $4: minimum age, seconds. */
export const QUEUE_PENDING_NEWEST: Statement = {
  name: 'laterz_dispatch_pending_newest',
  text: queueWhere(
    `status = 'pending' AND date_modified < now() - make_interval(secs => $4) AND (run_after IS NULL OR run_after <= now())`,
    'ORDER BY date_modified DESC',
  ),
};

/** Pending tasks, oldest first: also taken when the backlog is large, so old work is not starved. */
export const QUEUE_PENDING_OLDEST: Statement = {
  name: 'laterz_dispatch_pending_oldest',
  text: queueWhere(
    `status = 'pending' AND date_modified < now() - make_interval(secs => $4) AND (run_after IS NULL OR run_after <= now())`,
    'ORDER BY date_modified',
  ),
};

/** Is the pending backlog larger than $3? Counts at most $3 + 1 index entries. */
export const PENDING_BEYOND: Statement = {
  name: 'laterz_dispatch_pending_beyond',
  text: `SELECT count(*) > $3 AS beyond FROM (SELECT 1 FROM task WHERE collection = $1 AND func = $2 AND status = 'pending' LIMIT $3 + 1) s`,
};

/** Deferred tasks, oldest first: the likeliest to have their parents completed. $4: minimum age, seconds. */
export const QUEUE_DEFERRED_OLDEST: Statement = {
  name: 'laterz_dispatch_deferred',
  text: queueWhere(`status = 'deferred' AND date_modified < now() - make_interval(secs => $4)`, 'ORDER BY date_modified'),
};

/** Finished at an older version than $4 (the func's current one): run again, fail count reset. */
export const QUEUE_OUTDATED: Statement = {
  name: 'laterz_dispatch_outdated',
  text: queueWhere(`version < $4 AND status IN ('success', 'broken')`, '', ', fail_count = 0, error = \'\', broken_reason = \'\''),
};

/** Sync collections: successful tasks of a resync func finished more than $4 seconds ago run again. */
export const QUEUE_RESYNC: Statement = {
  name: 'laterz_dispatch_resync',
  text: queueWhere(`status = 'success' AND date_finished < now() - make_interval(secs => $4)`, 'ORDER BY date_modified'),
};

/** Errors and broken tasks of one retry tier: older than $4 minutes, fewer than $5 failures. */
export const QUEUE_FAILED_TIER: Statement = {
  name: 'laterz_dispatch_failed_tier',
  text: queueWhere(
    `status IN ('error', 'broken') AND fail_count < $5 AND date_modified < now() - make_interval(mins => $4)`,
    'ORDER BY date_modified',
    ", error = '', broken_reason = ''",
  ),
};

/** Broker queue empty but rows say queued for longer than $3 seconds: the messages were lost. */
export const RESET_LOST_QUEUED: Statement = {
  name: 'laterz_dispatch_reset_lost_queued',
  text: `
    UPDATE task t SET status = 'pending', date_modified = now()
      FROM (SELECT id FROM task
             WHERE collection = $1 AND func = $2 AND status = 'queued'
               AND date_modified < now() - make_interval(secs => $3)
             FOR UPDATE SKIP LOCKED) s
     WHERE t.id = s.id`,
};

/** Tasks of a (collection, func) that still want to run: decides whether a shallow queue should be topped up. */
export const REMAINING_BEYOND: Statement = {
  name: 'laterz_dispatch_remaining_beyond',
  text: `SELECT count(*) > $3 AS beyond FROM (SELECT 1 FROM task WHERE collection = $1 AND func = $2
           AND status IN ('pending', 'deferred') LIMIT $3 + 1) s`,
};

/**
 * Dead tasks: `started` for longer than $3 seconds while no session of this database holds their
 * advisory lock (the worker process is gone). They become broken/task_killed, with an attempt row;
 * the error tiers retry them later. Attempt-guarded by the status test under the row lock.
 */
export const KILL_DEAD_STARTED: Statement = {
  name: 'laterz_dispatch_kill_dead',
  text: `
    WITH held AS (
           SELECT (l.classid::bigint << 32) | l.objid::bigint AS id
             FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ),
         dead AS (
           SELECT id FROM task
            WHERE collection = $1 AND func = $2 AND status = 'started'
              AND date_modified < now() - make_interval(secs => $3)
              AND id NOT IN (SELECT id FROM held)
            ORDER BY date_modified
            LIMIT $4
              FOR UPDATE SKIP LOCKED
         ),
         killed AS (
           UPDATE task t
              SET status = 'broken', broken_reason = 'task_killed', error = 'Task Killed: its worker is gone',
                  fail_count = t.fail_count + 1, date_finished = now(), date_modified = now()
             FROM dead WHERE t.id = dead.id AND t.status = 'started'
           RETURNING t.id, t.attempt, t.worker, t.date_started
         )
    INSERT INTO task_attempt (task_id, attempt, status, broken_reason, error, worker, date_started)
    SELECT id, attempt, 'broken', 'task_killed', 'Task Killed: its worker is gone', worker, date_started FROM killed
    RETURNING task_id::text AS id`,
};
