import type { Statement } from '../../../database/queryable.js';

/**
 * Counts by func x status, outdated counts (finished below the func's current version: $2 funcs,
 * $3 versions) and bytes, from task_version_idx (collection, func, version, status) INCLUDE
 * (size_bytes) alone: an index-only scan, grouped in index order first (a few dozen groups) and
 * only then compared with the current versions, so no row pays for a join.
 */
export const STATS_COUNTS: Statement = {
  name: 'laterz_stats_counts',
  text: `
    SELECT g.func, g.status::text AS status, sum(g.n)::bigint AS n,
           COALESCE(sum(g.n) FILTER (WHERE g.version < f.version AND g.status IN ('success', 'broken')), 0)::bigint AS outdated,
           sum(g.bytes)::bigint AS bytes
      FROM (SELECT func, version, status, count(*) AS n, COALESCE(sum(size_bytes), 0) AS bytes
              FROM task WHERE collection = $1
             GROUP BY func, version, status) g
      LEFT JOIN unnest($2::text[], $3::int[]) AS f(func, version) ON f.func = g.func
     GROUP BY g.func, g.status`,
};

export interface StatsCountRow {
  func: string;
  status: string;
  n: string;
  outdated: string;
  bytes: string;
}

/** Run before STATS_COUNTS, in its transaction. */
export const SEQSCAN_OFF: Statement = { text: 'SET LOCAL enable_seqscan = off' };

/**
 * Finished over the last 60 minutes, per func of $2 (task_finished_idx alone: one range per func,
 * date_started included): throughput windows and duration percentiles.
 */
export const STATS_RECENT: Statement = {
  name: 'laterz_stats_recent',
  text: `
    SELECT func,
           count(*) FILTER (WHERE date_finished > now() - interval '1 minute')::bigint AS m1,
           count(*) FILTER (WHERE date_finished > now() - interval '5 minutes')::bigint AS m5,
           count(*)::bigint AS m60,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM date_finished - date_started)) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM date_finished - date_started)) AS p95
      FROM task
     WHERE collection = $1 AND func = ANY($2::text[]) AND date_finished > now() - interval '60 minutes'
       AND date_started IS NOT NULL
     GROUP BY func`,
};

export interface StatsRecentRow {
  func: string;
  m1: string;
  m5: string;
  m60: string;
  p50: number | null;
  p95: number | null;
}

/**
 * The commonest failures: broken reasons counted exactly from task_failed_idx alone (it carries
 * status and broken_reason), error messages over each func's latest $3 errors (task_active_idx
 * backwards; a message is on the heap, and a backlog of errors is no reason to read them all).
 */
export const STATS_REASONS: Statement = {
  name: 'laterz_stats_reasons',
  text: `
    SELECT status, reason, n FROM (
      SELECT 'broken' AS status, broken_reason::text AS reason, count(*)::bigint AS n
        FROM task
       WHERE collection = $1 AND func = ANY ($2::text[]) AND status IN ('error', 'broken') AND status = 'broken'
       GROUP BY broken_reason
      UNION ALL
      SELECT 'error', reason, count(*)::bigint
        FROM unnest($2::text[]) AS f(func)
       CROSS JOIN LATERAL (SELECT left(error, 120) AS reason FROM task
                            WHERE collection = $1 AND func = f.func AND status = 'error'
                            ORDER BY date_modified DESC LIMIT $3) e
       GROUP BY reason
    ) r
     ORDER BY n DESC, status, reason
     LIMIT 10`,
};

export interface StatsReasonRow {
  status: string;
  reason: string;
  n: string;
}

/** The oldest pending task of each func: the first entry of each task_active_idx range. */
export const STATS_OLDEST_PENDING: Statement = {
  name: 'laterz_stats_oldest_pending',
  text: `
    SELECT extract(epoch FROM now() - min(oldest))::float8 AS seconds
      FROM unnest($2::text[]) AS f(func)
     CROSS JOIN LATERAL (SELECT date_modified AS oldest FROM task
                          WHERE collection = $1 AND func = f.func AND status = 'pending'
                          ORDER BY date_modified LIMIT 1) o`,
};

export interface StatsOldestPendingRow {
  seconds: number | null;
}

export const SAVE_STATS: Statement = {
  name: 'laterz_stats_save',
  text: `
    INSERT INTO collection_stats (collection, stats, computed_at, duration_ms) VALUES ($1, $2, now(), $3)
        ON CONFLICT (collection) DO UPDATE SET stats = EXCLUDED.stats, computed_at = EXCLUDED.computed_at,
           duration_ms = EXCLUDED.duration_ms`,
};
