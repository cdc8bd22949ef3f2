import type { Statement } from '../../database/queryable.js';

/*
 * A waiting task's time changed, or the task removed (issue 18, part 2). "Waiting" is a pending
 * task (not yet handed to the broker; with or without a runAfter) or a failure waiting for its
 * retry (run_after set). Both statements are guarded by that condition, read under the row lock.
 */
const WAITING = `(t.status = 'pending' OR (t.status IN ('error', 'broken') AND t.run_after IS NOT NULL))`;

/** Task $1 runs at $2 (the due scan queues it then; a time already past: at the next scan). */
export const RESCHEDULE_IF_WAITING: Statement = {
  name: 'laterz_reschedule_if_waiting',
  text: `
    UPDATE task t SET run_after = $2::timestamptz, date_modified = now()
     WHERE t.id = $1 AND ${WAITING}
    RETURNING t.id::text AS id, t.collection, t.func, t.status::text AS status, t.run_after AS "runAfter"`,
};

export interface RescheduledRow {
  id: string;
  collection: string;
  func: string;
  status: string;
  runAfter: Date;
}

/** Deletes task $1 if it waits and no task depends on it (its key goes with it: ON DELETE CASCADE). */
export const REMOVE_IF_WAITING: Statement = {
  name: 'laterz_remove_if_waiting',
  text: `
    DELETE FROM task t
     WHERE t.id = $1 AND ${WAITING}
       AND NOT EXISTS (SELECT 1 FROM task_dependency d WHERE d.prev_id = t.id)
    RETURNING t.id::text AS id, t.collection, t.func`,
};

/** Why a task was neither rescheduled nor removed: its status and how many tasks depend on it (no row: no such task). */
export const WAITING_CHECK: Statement = {
  name: 'laterz_waiting_check',
  text: `
    SELECT t.status::text AS status, t.run_after AS "runAfter",
           (SELECT count(*)::int FROM task_dependency d WHERE d.prev_id = t.id) AS dependents
      FROM task t WHERE t.id = $1`,
};
