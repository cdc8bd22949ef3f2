import type { Statement } from '../../database/queryable.js';

/** One identity's task, found through its key (task_key_pk), then the task by primary key. */
const BY_IDENTITY = `
      SELECT t.id, t.collection, t.func, t.status, t.priority FROM task_key tk JOIN task t ON t.id = tk.task_id
       WHERE tk.collection = k.collection AND tk.func = k.func AND tk.args_hash = k.args_hash`;

/** Existing tasks among the requested identities (get-or-create, first half). */
export const FIND_TASKS_BY_IDENTITY: Statement = {
  name: 'laterz_find_by_identity',
  text: `
    SELECT t.id::text AS id, t.collection, t.func, t.status::text AS status, t.priority, k.ord
      FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[]) AS k(collection, func, args_hash, ord),
           LATERAL (${BY_IDENTITY}) t`,
};

/**
 * get-or-create in one statement: the keys are inserted first (ON CONFLICT skips an identity that
 * has one), and only the identities that got a key get a task row, under the id the key took from
 * the identity column's own sequence (task_id_seq). The new rows come back, then the existing ones
 * as the statement's snapshot saw them. A row another caller committed meanwhile is in neither half
 * (ON CONFLICT skipped it); the caller finds it after.
 */
export const GET_OR_CREATE_TASKS: Statement = {
  name: 'laterz_get_or_create_tasks',
  text: `
    WITH k AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::bytea[], $5::task_status[], $6::int[], $7::smallint[],
                                $8::timestamptz[], $9::bigint[], $10::int[])
                    AS k(collection, func, args, args_hash, status, version, priority, run_after, size_bytes, ord)
         ),
         keyed AS (
           INSERT INTO task_key (collection, func, args_hash, task_id)
           SELECT k.collection, k.func, k.args_hash, nextval('task_id_seq'::regclass)
             FROM k ORDER BY k.collection, k.func, k.args_hash
               ON CONFLICT DO NOTHING
           RETURNING collection, func, args_hash, task_id
         ),
         created AS (
           SELECT keyed.task_id AS id, k.*
             FROM keyed JOIN k ON k.collection = keyed.collection AND k.func = keyed.func AND k.args_hash = keyed.args_hash
         ),
         -- Runs to completion although nothing reads it (a data-modifying CTE always does); the
         -- keys' foreign key is checked at the end of the statement, when these rows exist.
         ins AS (
           INSERT INTO task (id, collection, func, args, args_hash, status, version, priority, run_after, size_bytes)
           SELECT id, collection, func, args, args_hash, status, version, priority, run_after, size_bytes FROM created
         )
    SELECT true AS created, id::text AS id, collection, func, status::text AS status, priority, ord FROM created
    UNION ALL
    -- Only the identities this statement did not create are looked up: a batch of new calls costs
    -- no lookup at all, whatever plan a table without fresh statistics gets.
    SELECT false, t.id::text, t.collection, t.func, t.status::text, t.priority, k.ord
      FROM k, LATERAL (${BY_IDENTITY}) t
     WHERE k.ord NOT IN (SELECT ord FROM created)`,
};

export interface TaskIdentityRow {
  id: string;
  collection: string;
  func: string;
  status: string;
  /** The stored one: a call that finds an existing task does not change it. */
  priority: number;
  ord?: number;
}

/** The parents named by dependsOn: they must exist and share the child's collection. */
export const FIND_PARENTS: Statement = {
  name: 'laterz_find_parents',
  text: `SELECT id::text AS id, collection FROM task WHERE id = ANY($1::bigint[])`,
};

/**
 * Would any new edge prev -> next close a cycle? Walks down from each next over the existing
 * edges plus the new ones; a walk that reaches its own prev is a cycle.
 */
export const FIND_CYCLE: Statement = {
  name: 'laterz_find_cycle',
  text: `
    WITH RECURSIVE new_edge(prev_id, next_id) AS (
           SELECT * FROM unnest($1::bigint[], $2::bigint[])
         ),
         walk(target, next_edge, id) AS (
           SELECT prev_id, next_id, next_id FROM new_edge
           UNION
           SELECT w.target, w.next_edge, e.next_id
             FROM walk w
            CROSS JOIN LATERAL (
                  SELECT d.next_id FROM task_dependency d WHERE d.prev_id = w.id
                  UNION ALL
                  SELECT n.next_id FROM new_edge n WHERE n.prev_id = w.id) e
         )
    SELECT target::text AS prev, next_edge::text AS next FROM walk WHERE id = target LIMIT 1`,
};

/** New edges, or edges whose parent changed under the same name: both make the child run again. */
export const UPSERT_EDGES: Statement = {
  name: 'laterz_upsert_edges',
  text: `
    INSERT INTO task_dependency (prev_id, next_id, name)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) ORDER BY 2, 3
        ON CONFLICT (next_id, name) DO UPDATE SET prev_id = EXCLUDED.prev_id
     WHERE task_dependency.prev_id <> EXCLUDED.prev_id
    RETURNING next_id::text AS next_id`,
};

/** deleteExtraDeps: drops the edges of these children that the call did not name. */
export const DELETE_EXTRA_EDGES: Statement = {
  name: 'laterz_delete_extra_edges',
  text: `
    DELETE FROM task_dependency d
     WHERE d.next_id = ANY($1::bigint[])
       AND NOT EXISTS (SELECT 1 FROM unnest($2::bigint[], $3::text[]) AS k(next_id, name)
                        WHERE k.next_id = d.next_id AND k.name = d.name)`,
};

/**
 * Existing tasks the call wants to run: finished ones to run again (retry, new edge), pending ones
 * handed to the broker now. Conditional on the status read under the row lock.
 */
export const RESET_EXISTING: Statement = {
  name: 'laterz_reset_existing',
  text: `
    UPDATE task t
       SET status = CASE WHEN k.queue THEN 'queued'::task_status ELSE 'pending'::task_status END,
           error = '', broken_reason = '', log = '', date_modified = now()
      FROM unnest($1::bigint[], $2::bool[], $3::bool[]) AS k(id, rerun, queue)
     WHERE t.id = k.id
       AND ((k.rerun AND t.status IN ('success', 'broken', 'error'))
         OR (k.queue AND t.status = 'pending'))
    RETURNING t.id::text AS id, t.status::text AS status`,
};

/** A collection named for the first time by an enqueue gets its row (process on, sync off). */
export const ENSURE_COLLECTIONS: Statement = {
  name: 'laterz_ensure_collections',
  text: `INSERT INTO collection (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`,
};
