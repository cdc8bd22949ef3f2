import type { Statement } from '../../database/queryable.js';

/** Delete by identity, step 1: the task of (collection, func, args hash), locked FOR UPDATE (an edge being added to it waits, then fails). */
export const LOCK_BY_IDENTITY: Statement = {
  name: 'laterz_lock_by_identity',
  text: `
    SELECT t.id::text AS id, t.status::text AS status FROM task_key k JOIN task t ON t.id = k.task_id
     WHERE k.collection = $1 AND k.func = $2 AND k.args_hash = $3
       FOR UPDATE OF t`,
};

/** Step 2, in a new statement (its snapshot sees edges committed before the lock was taken): how many tasks depend on it. */
export const COUNT_DEPENDENTS: Statement = {
  name: 'laterz_count_dependents',
  text: `SELECT count(*)::int AS n FROM task_dependency WHERE prev_id = $1`,
};

/** Step 3: the task (its key, its edges to its parents and its attempts go with it, by cascade), unless it runs. */
export const DELETE_IF_NOT_STARTED: Statement = {
  name: 'laterz_delete_if_not_started',
  text: `DELETE FROM task WHERE id = $1 AND status <> 'started' RETURNING id::text AS id`,
};
