import type { Statement } from '../../database/queryable.js';

/** A schedule as its statements return it. */
export interface ScheduleRow {
  name: string;
  func: string;
  args: Record<string, unknown>;
  collection: string;
  cron: string | null;
  tz: string | null;
  every_ms: string | null;
  missed: string;
  source: string;
  next_run: Date;
  last_run: Date | null;
  last_task_id: string | null;
  created: Date;
  updated: Date;
}

const COLUMNS = `name, func, args, collection, cron, tz, every_ms::text AS every_ms, missed, source, next_run, last_run,
                 last_task_id::text AS last_task_id, created, updated`;

/** The database's clock: slots are computed from it, never from a process's. */
export const DB_NOW: Statement = { name: 'laterz_schedule_now', text: `SELECT now() AS now` };

/**
 * Creates a schedule or replaces its definition. Its next run ($10, computed from now) replaces the
 * stored one only when the cadence changed: a declared schedule recorded again at each boot keeps
 * its place (and its missed slots).
 */
export const UPSERT_SCHEDULE: Statement = {
  name: 'laterz_upsert_schedule',
  text: `
    INSERT INTO schedule AS s (name, func, args, collection, cron, tz, every_ms, missed, source, next_run)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7::bigint, $8, $9, $10)
        ON CONFLICT (name) DO UPDATE
       SET func = EXCLUDED.func, args = EXCLUDED.args, collection = EXCLUDED.collection, cron = EXCLUDED.cron,
           tz = EXCLUDED.tz, every_ms = EXCLUDED.every_ms, missed = EXCLUDED.missed, source = EXCLUDED.source,
           next_run = CASE WHEN (s.cron, s.tz, s.every_ms) IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.tz, EXCLUDED.every_ms)
                           THEN EXCLUDED.next_run ELSE s.next_run END,
           updated = now()
     WHERE (s.func, s.args, s.collection, s.cron, s.tz, s.every_ms, s.missed, s.source)
           IS DISTINCT FROM (EXCLUDED.func, EXCLUDED.args, EXCLUDED.collection, EXCLUDED.cron, EXCLUDED.tz, EXCLUDED.every_ms,
                             EXCLUDED.missed, EXCLUDED.source)
    RETURNING name`,
};

export const DELETE_SCHEDULE: Statement = { name: 'laterz_delete_schedule', text: `DELETE FROM schedule WHERE name = $1 RETURNING name` };

export const LIST_SCHEDULES: Statement = { name: 'laterz_list_schedules', text: `SELECT ${COLUMNS} FROM schedule ORDER BY name` };

export const SCHEDULE_BY_NAME: Statement = { name: 'laterz_schedule_by_name', text: `SELECT ${COLUMNS} FROM schedule WHERE name = $1` };

/** The due schedules (on schedule_next_run_idx), oldest slot first, with the database's now. */
export const DUE_SCHEDULES: Statement = {
  name: 'laterz_due_schedules',
  text: `SELECT ${COLUMNS}, now() AS now FROM schedule WHERE next_run <= now() ORDER BY next_run LIMIT $1`,
};

/**
 * Moves a schedule past the slots it fired, only if its next run is still the one read ($2): a
 * replica that fired the same slots first (or an edit meanwhile) makes this change nothing, and
 * the caller rolls back its enqueue.
 */
export const ADVANCE_IF_AT: Statement = {
  name: 'laterz_advance_schedule_if_at',
  text: `
    UPDATE schedule SET next_run = $3, last_run = COALESCE($4, last_run), last_task_id = COALESCE($5::bigint, last_task_id)
     WHERE name = $1 AND next_run = $2
    RETURNING name`,
};
