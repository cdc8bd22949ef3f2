import type { Statement } from '../../database/queryable.js';

/*
 * What the work driver (LaterzTesting's runUntilIdle, inline mode) reads between its rounds. A
 * test's database is small: these read the whole task table, which the engine itself never does.
 */

/**
 * The state a round may change, as one hash: every task's status, attempt and fail count. Two
 * equal hashes around a round mean the round ran nothing and changed nothing that could run
 * (a deferred task sent round the queue comes back deferred). `attempts`: runs started so far.
 */
export const TASKS_FINGERPRINT: Statement = {
  name: 'laterz_driver_fingerprint',
  text: `
    SELECT md5(coalesce(string_agg(id::text || ':' || status::text || ':' || attempt || ':' || fail_count, ',' ORDER BY id), '')) AS fingerprint,
           coalesce(sum(attempt), 0)::bigint::text AS attempts
      FROM task`,
};

export interface FingerprintRow {
  fingerprint: string;
  /** A bigint, as text. */
  attempts: string;
}

/** Every task by status. */
export const COUNT_BY_STATUS: Statement = {
  name: 'laterz_driver_count_by_status',
  text: `SELECT status::text AS status, count(*)::int AS count FROM task GROUP BY status`,
};

export interface StatusCountRow {
  status: string;
  count: number;
}

/** The statuses of tasks $1 (ids). */
export const STATUSES_BY_ID: Statement = {
  name: 'laterz_driver_statuses_by_id',
  text: `SELECT id::text AS id, status::text AS status FROM task WHERE id = ANY($1::bigint[])`,
};

export interface StatusRow {
  id: string;
  status: string;
}

/**
 * Tasks not finished (neither success nor broken), oldest first, at most $1: with what tells why
 * each waits (its run_after, last change and failures, whether its collection processes, whether a
 * parent has not finished).
 */
export const UNFINISHED_TASKS: Statement = {
  name: 'laterz_driver_unfinished',
  text: `
    SELECT t.id::text AS id, t.collection, t.func, t.status::text AS status, t.run_after AS "runAfter",
           t.date_modified AS modified, t.fail_count AS "failCount", t.error,
           coalesce(c.process, true) AS processes,
           EXISTS (SELECT 1 FROM task_dependency d JOIN task p ON p.id = d.prev_id
                    WHERE d.next_id = t.id AND p.status NOT IN ('success', 'broken')) AS "parentsUnfinished"
      FROM task t
      LEFT JOIN collection c ON c.name = t.collection
     WHERE t.status NOT IN ('success', 'broken')
     ORDER BY t.id
     LIMIT $1`,
};

export interface UnfinishedRow {
  id: string;
  collection: string;
  func: string;
  status: string;
  runAfter: Date | null;
  modified: Date;
  failCount: number;
  error: string;
  processes: boolean;
  parentsUnfinished: boolean;
}

/** One task as a test looks at it: $1 its id. */
export const TASK_BY_ID: Statement = {
  name: 'laterz_driver_task_by_id',
  text: `
    SELECT id::text AS id, collection, func, status::text AS status, result, error, broken_reason AS "brokenReason",
           attempt, fail_count AS "failCount", log
      FROM task WHERE id = $1`,
};

export interface TaskSnapshotRow {
  id: string;
  collection: string;
  func: string;
  status: string;
  /** The handler's return value (JSON), null until it succeeded. */
  result: unknown;
  error: string;
  brokenReason: string;
  attempt: number;
  failCount: number;
  log: string;
}
