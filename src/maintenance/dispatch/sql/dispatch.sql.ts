import type { Statement } from '../../../database/queryable.js';

/*
 * The dispatcher's statements. A tick runs DISPATCH_PROBE once for every (collection, func) pair,
 * then one queueing statement per pair that has work (first found wins). Each queueing statement
 * takes ($1 collection, $2 func, $3 limit, …), locks what it takes SKIP LOCKED, and reads through
 * task_pending_now_idx (collection, func, date_modified: pending rows without a time),
 * task_active_idx (collection, func, status, date_modified), task_version_idx (collection, func,
 * version, status), task_finished_idx (collection, func, date_finished) or task_failed_idx
 * (collection, func, fail_count, date_modified).
 */

/** The task ids whose advisory locks some session of this database holds (a worker runs them). */
const HELD_TASK_LOCKS = `
  SELECT (l.classid::bigint << 32) | l.objid::bigint AS id
    FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.objsubid = 1
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

// The ids go in as one array, so the UPDATE finds its rows by primary key whatever the planner
// guesses about their number (a join may turn into a hash join over the whole table).
const queueWhere = (where: string, order: string, setExtra = '', to = 'queued') => `
  UPDATE task t SET status = '${to}', date_modified = now()${setExtra}
   WHERE t.id = ANY (ARRAY(
           SELECT id FROM task
            WHERE collection = $1 AND func = $2 AND ${where}
            ${order}
            LIMIT $3
              FOR UPDATE SKIP LOCKED))
  RETURNING t.id::text AS "taskId", t.collection, t.func, t.priority`;

/*
 * The pending branch takes only rows without a time (task_pending_now_idx): a row with a run_after,
 * due or not, is the due scan's (task_due_idx), which queues it when its time comes.
 */

/** Pending tasks, newest first (they finish the batches already begun). $4: minimum age, seconds. */
export const QUEUE_PENDING_NEWEST: Statement = {
  name: 'laterz_dispatch_pending_newest',
  text: queueWhere(
    `status = 'pending' AND run_after IS NULL AND date_modified < now() - make_interval(secs => $4)`,
    'ORDER BY date_modified DESC',
  ),
};

/** Pending tasks, oldest first: also taken when the backlog is large, so old work is not starved. */
export const QUEUE_PENDING_OLDEST: Statement = {
  name: 'laterz_dispatch_pending_oldest',
  text: queueWhere(
    `status = 'pending' AND run_after IS NULL AND date_modified < now() - make_interval(secs => $4)`,
    'ORDER BY date_modified',
  ),
};

/** Is the pending backlog larger than $3? Counts at most $3 + 1 index entries. */
export const PENDING_BEYOND: Statement = {
  name: 'laterz_dispatch_pending_beyond',
  text: `SELECT count(*) > $3 AS beyond FROM (SELECT 1 FROM task WHERE collection = $1 AND func = $2 AND status = 'pending' AND run_after IS NULL LIMIT $3 + 1) s`,
};

/** Deferred tasks, oldest first: the likeliest to have their parents completed. $4: minimum age, seconds. */
export const QUEUE_DEFERRED_OLDEST: Statement = {
  name: 'laterz_dispatch_deferred',
  text: queueWhere(`status = 'deferred' AND date_modified < now() - make_interval(secs => $4)`, 'ORDER BY date_modified'),
};

/** Finished at an older version than $4 (the func's current one): run again, fail count reset. An operator's cancel stays. */
export const QUEUE_OUTDATED: Statement = {
  name: 'laterz_dispatch_outdated',
  text: queueWhere(`version < $4 AND status IN ('success', 'broken') AND broken_reason <> 'cancelled'`, '', ', fail_count = 0, error = \'\', broken_reason = \'\''),
};

/**
 * Sync collections: successful tasks of a resync func finished more than $4 seconds ago run again,
 * longest finished first (task_finished_idx; the few old failures in that range are skipped).
 */
export const QUEUE_RESYNC: Statement = {
  name: 'laterz_dispatch_resync',
  text: queueWhere(`date_finished < now() - make_interval(secs => $4) AND status = 'success'`, 'ORDER BY date_finished'),
};

/**
 * A failure whose advisory lock is still held is not retried: its attempt's handler has not
 * returned (it timed out or was cancelled, and ignores its abort signal). It is retried once it has.
 */
const FAILED_TIER = `status IN ('error', 'broken') AND broken_reason <> 'cancelled' AND fail_count < $5
               AND date_modified < now() - make_interval(mins => $4) AND id NOT IN (SELECT id FROM held)`;

/**
 * Failures of a bulk func in one of snoop's retry tiers: older than $4 minutes, fewer than $5
 * failures, their locks free; on task_failed_idx. Bulk funcs are never queued: back to pending,
 * where the bulk runner takes them (a killed batch, or tasks the handler reported as not done).
 * Other funcs' failures follow their retry policy (run_after, the due scan).
 */
export const PEND_FAILED_TIER: Statement = {
  name: 'laterz_dispatch_pend_failed_tier',
  text: `WITH held AS MATERIALIZED (${HELD_TASK_LOCKS})${queueWhere(FAILED_TIER, 'ORDER BY date_modified', ", error = '', broken_reason = ''", 'pending')}`,
};

/** Broker queue empty but rows say queued for longer than $3 seconds: the messages were lost. */
export const RESET_LOST_QUEUED: Statement = {
  name: 'laterz_dispatch_reset_lost_queued',
  text: `
    UPDATE task t SET status = 'pending', date_modified = now()
     WHERE t.id = ANY (ARRAY(
             SELECT id FROM task
              WHERE collection = $1 AND func = $2 AND status = 'queued'
                AND date_modified < now() - make_interval(secs => $3)
                FOR UPDATE SKIP LOCKED))
    RETURNING t.id::text AS id`,
};

/**
 * Dead tasks of the pairs whose probe found some: `started` for longer than $3 seconds, in the
 * collections $1 and funcs $2, while no session of this database holds their advisory lock (the
 * worker process is gone). They become broken/task_killed, with an attempt row; the retry tiers
 * take them later. Under the row lock the status is tested again, so a task that just finished is
 * left alone. In no order: the scan stops at the $4th dead row instead of reading and sorting every
 * started row of the pairs (their pages are scattered: 9 of this statement's 27 ms for 125 of 954
 * dead rows at 1M), and the rest are found by the next ticks anyway.
 */
export const KILL_DEAD_STARTED: Statement = {
  name: 'laterz_dispatch_kill_dead',
  text: `
    WITH held AS (${HELD_TASK_LOCKS}),
         dead AS (
           SELECT id FROM task
            WHERE collection = ANY($1::text[]) AND func = ANY($2::text[]) AND status = 'started'
              AND date_modified < now() - make_interval(secs => $3)
              AND id NOT IN (SELECT id FROM held)
            LIMIT $4
              FOR UPDATE SKIP LOCKED
         ),
         killed AS (
           UPDATE task t
              SET status = 'broken', broken_reason = 'task_killed', error = 'Task Killed: its worker is gone',
                  fail_count = t.fail_count + 1, date_finished = now(), date_modified = now()
             FROM dead WHERE t.id = dead.id AND t.status = 'started'
           RETURNING t.id, t.attempt, t.worker, t.date_started, t.collection, t.func, t.fail_count, t.retry, t.error
         ),
         attempts AS (
           INSERT INTO task_attempt (task_id, attempt, status, broken_reason, error, worker, date_started)
           SELECT id, attempt, 'broken', 'task_killed', 'Task Killed: its worker is gone', worker, date_started FROM killed
         )
    SELECT id::text AS id, collection, func, attempt, fail_count, retry, error FROM killed`,
};

export interface KilledRow {
  id: string;
  collection: string;
  func: string;
  /** The attempt its dead worker ran. */
  attempt: number;
  /** What the kill wrote. */
  error: string;
  /** Failures so far, this kill included. */
  fail_count: number;
  /** The enqueue's retry override, or null. */
  retry: unknown;
}

/**
 * Killed tasks whose retry policy runs them again: due $2 milliseconds from now ($1 ids), while
 * still broken/task_killed (the due scan queues them then).
 */
export const SCHEDULE_KILLED_RETRY: Statement = {
  name: 'laterz_dispatch_schedule_killed_retry',
  text: `
    UPDATE task t SET run_after = now() + make_interval(secs => v.ms / 1000)
      FROM unnest($1::bigint[], $2::float8[]) AS v(id, ms)
     WHERE t.id = v.id AND t.status = 'broken' AND t.broken_reason = 'task_killed'`,
};

/**
 * What each (collection, func) pair has to do this tick, in one statement: a few index probes per
 * pair (EXISTS stops at the first entry, and a plain index scan marks the dead entries it passes,
 * which a bitmap scan would read again at every tick), so an idle pair costs no round trip.
 * $1 collections, $2 their sync flags; $3 funcs, $4 their versions, $5 resync seconds (NULL: none),
 * $6 bulk flags; $7 minimum age of pending/deferred, seconds; $8 tier minutes, $9 tier fail
 * limits (bulk funcs only: the others' failures are retried by their retry policy, through
 * run_after and the due scan; a failure whose advisory lock is held is not counted: its handler has not returned);
 * $10 look for lost queued rows (AMQP), $11 their grace, seconds; $12 age of a dead
 * started task, seconds (no session holds its advisory lock); $13 the funcs' served flags (a
 * live server runs them). `tier` is the first tier with work (1-based) or NULL. Bulk funcs are
 * never queued: only their dead tasks and tiers are probed. A func nobody serves gets only the
 * dead-task scan: its waiting tasks stay as they are until a server of it is live.
 */
export const DISPATCH_PROBE: Statement = {
  name: 'laterz_dispatch_probe',
  text: `
    WITH held AS MATERIALIZED (${HELD_TASK_LOCKS})
    SELECT c.name AS collection, f.func,
           EXISTS (
             SELECT 1 FROM task t WHERE t.collection = c.name AND t.func = f.func AND t.status = 'started'
                AND t.date_modified < now() - make_interval(secs => $12) AND t.id NOT IN (SELECT id FROM held)) AS dead,
           CASE WHEN f.bulk OR NOT f.served THEN false ELSE EXISTS (
             SELECT 1 FROM task t WHERE t.collection = c.name AND t.func = f.func AND t.status = 'pending' AND t.run_after IS NULL
                AND t.date_modified < now() - make_interval(secs => $7)) END AS pending,
           CASE WHEN f.bulk OR NOT f.served THEN false ELSE EXISTS (
             SELECT 1 FROM task t WHERE t.collection = c.name AND t.func = f.func AND t.status = 'deferred'
                AND t.date_modified < now() - make_interval(secs => $7)) END AS deferred,
           -- Not EXISTS: the version bound comes from unnest, so the planner guessed a third of the rows
           -- outdated and seq-scanned for the first one (1.1 s at 1.1M rows, none outdated). Ordered by
           -- version with a LIMIT, it reads task_version_idx from (collection, func, version < current).
           CASE WHEN f.bulk OR NOT f.served THEN false ELSE (
             SELECT true FROM task t WHERE t.collection = c.name AND t.func = f.func AND t.version < f.version
                AND t.status IN ('success', 'broken') AND t.broken_reason <> 'cancelled'
              ORDER BY t.version LIMIT 1) IS NOT NULL END AS outdated,
           CASE WHEN f.bulk OR NOT f.served OR NOT c.sync OR f.resync IS NULL THEN false ELSE EXISTS (
             SELECT 1 FROM task t WHERE t.collection = c.name AND t.func = f.func
                AND t.date_finished < now() - make_interval(secs => f.resync) AND t.status = 'success') END AS resync,
           CASE WHEN NOT f.bulk THEN NULL ELSE
           (SELECT min(r.i) FROM unnest($8::int[], $9::int[]) WITH ORDINALITY AS r(mins, lim, i)
             WHERE EXISTS (SELECT 1 FROM task t WHERE t.collection = c.name AND t.func = f.func
                              AND t.status IN ('error', 'broken') AND t.broken_reason <> 'cancelled' AND t.fail_count < r.lim
                              AND t.date_modified < now() - make_interval(mins => r.mins)
                              AND t.id NOT IN (SELECT id FROM held))) END::int AS tier,
           CASE WHEN f.bulk OR NOT f.served OR NOT $10::boolean THEN false ELSE EXISTS (
             SELECT 1 FROM task t WHERE t.collection = c.name AND t.func = f.func AND t.status = 'queued'
                AND t.date_modified < now() - make_interval(secs => $11)) END AS lost
      FROM unnest($1::text[], $2::boolean[]) AS c(name, sync)
     CROSS JOIN unnest($3::text[], $4::int[], $5::float8[], $6::boolean[], $13::boolean[]) AS f(func, version, resync, bulk, served)`,
};

export interface ProbeRow {
  collection: string;
  func: string;
  dead: boolean;
  pending: boolean;
  deferred: boolean;
  outdated: boolean;
  resync: boolean;
  tier: number | null;
  lost: boolean;
}
