import type { Statement } from '../../tasks/sql/queryable.js';

/**
 * Counts by func x status, outdated counts (finished below the func's current version: $2 funcs,
 * $3 versions) and bytes, from task_version_idx (collection, func, version, status) INCLUDE
 * (size_bytes) alone: an index-only scan.
 */
export const STATS_COUNTS: Statement = {
  name: 'laterz_stats_counts',
  text: `
    SELECT t.func, t.status::text AS status, count(*)::bigint AS n,
           count(*) FILTER (WHERE t.version < f.version AND t.status IN ('success', 'broken'))::bigint AS outdated,
           COALESCE(sum(t.size_bytes), 0)::bigint AS bytes
      FROM task t
      LEFT JOIN unnest($2::text[], $3::int[]) AS f(func, version) ON f.func = t.func
     WHERE t.collection = $1
     GROUP BY t.func, t.status`,
};

/** Finished over the last 60 minutes (task_finished_idx): throughput windows and duration percentiles. */
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
     WHERE collection = $1 AND date_finished > now() - interval '60 minutes' AND date_started IS NOT NULL
     GROUP BY func`,
};

/** The commonest reasons of broken tasks and messages of failed ones (task_active_idx ranges). */
export const STATS_REASONS: Statement = {
  name: 'laterz_stats_reasons',
  text: `
    SELECT status::text AS status,
           CASE WHEN status = 'broken' THEN broken_reason ELSE left(error, 120) END AS reason,
           count(*)::bigint AS n
      FROM task
     WHERE collection = $1 AND func = ANY($2::text[]) AND status IN ('error', 'broken')
     GROUP BY 1, 2
     ORDER BY 3 DESC
     LIMIT 10`,
};

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

export const SAVE_STATS: Statement = {
  name: 'laterz_stats_save',
  text: `
    INSERT INTO collection_stats (collection, stats, computed_at, duration_ms) VALUES ($1, $2, now(), $3)
        ON CONFLICT (collection) DO UPDATE SET stats = EXCLUDED.stats, computed_at = EXCLUDED.computed_at,
           duration_ms = EXCLUDED.duration_ms`,
};
