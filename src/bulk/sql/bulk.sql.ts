import type { Statement } from '../../tasks/sql/queryable.js';

/**
 * Candidates of one bulk func in one collection: not completed at the current version ($3),
 * oldest first, at most $4, locked SKIP LOCKED. `ready` says whether every parent is completed
 * (parents' current versions come as $5 funcs / $6 versions; unknown funcs count as current).
 * Two index ranges: task_active_idx for the waiting statuses, task_version_idx for outdated rows.
 */
export const SELECT_BULK_CANDIDATES: Statement = {
  name: 'laterz_bulk_candidates',
  text: `
    SELECT t.id::text AS id, t.args, t.size_bytes::bigint AS size_bytes, t.attempt,
           NOT EXISTS (
             SELECT 1 FROM task_dependency d
               JOIN task p ON p.id = d.prev_id
               LEFT JOIN unnest($5::text[], $6::int[]) AS f(func, version) ON f.func = p.func
              WHERE d.next_id = t.id
                AND NOT (p.status IN ('success', 'broken') AND (f.version IS NULL OR p.version = f.version))
           ) AS ready
      FROM task t
     WHERE t.id IN (
             (SELECT id FROM task WHERE collection = $1 AND func = $2
                 AND status IN ('pending', 'queued', 'deferred', 'error')
               ORDER BY date_modified LIMIT $4)
             UNION ALL
             (SELECT id FROM task WHERE collection = $1 AND func = $2
                 AND version < $3 AND status IN ('success', 'broken')
               LIMIT $4))
       AND t.status <> 'started'
     ORDER BY t.date_modified
     LIMIT $4
       FOR UPDATE OF t SKIP LOCKED`,
};

export interface BulkCandidateRow {
  id: string;
  args: unknown;
  size_bytes: string;
  attempt: number;
  ready: boolean;
}

/** Candidates whose parents are not all completed wait. */
export const MARK_BULK_DEFERRED: Statement = {
  name: 'laterz_bulk_deferred',
  text: `UPDATE task SET status = 'deferred', date_modified = now() WHERE id = ANY($1::bigint[])`,
};

/** The batch starts: attempt + 1 fences it like a worker's claim; $2 names the runner. */
export const MARK_BULK_STARTED: Statement = {
  name: 'laterz_bulk_started',
  text: `
    UPDATE task SET status = 'started', attempt = attempt + 1, worker = $2, date_started = now(),
           date_modified = now(), date_finished = NULL
     WHERE id = ANY($1::bigint[])
    RETURNING id::text AS id, attempt`,
};

/** Spreads the batch's elapsed time over its tasks by size: date_started = date_finished - share. */
export const SPREAD_BULK_DURATIONS: Statement = {
  name: 'laterz_bulk_spread',
  text: `
    UPDATE task t SET date_started = t.date_finished - make_interval(secs => v.secs)
      FROM unnest($1::bigint[], $2::float8[]) AS v(id, secs)
     WHERE t.id = v.id AND t.date_finished IS NOT NULL`,
};

/** The bulk runner's advisory locks, on its job session, so a killed scheduler's tasks are found dead. */
export const LOCK_BULK_TASKS: Statement = {
  name: 'laterz_bulk_lock',
  text: `SELECT x::text AS id FROM unnest($1::bigint[]) AS x WHERE pg_try_advisory_lock(x)`,
};
