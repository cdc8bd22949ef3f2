import { createHash } from 'node:crypto';
import type { Statement } from '../../database/queryable.js';

/*
 * The enqueue's statements name the engine's schema on every table, type and sequence: they also run
 * in an application's own transaction (its TypeORM DataSource or pg client), whose search_path is the
 * application's. Their prepared names carry the schema, so two schemas never share a name on one
 * connection (pg refuses one name for two texts).
 */

/** The class of the queue caps' advisory locks (two-int form; "lc"). */
const CAP_LOCK_CLASS = 0x6c63;

/** PostgreSQL keeps the first 63 bytes of a prepared statement's name: two longer ones could collide. */
const MAX_NAME = 63;

/** `<base>@<schema>`, or `<base>@<hash of the schema>` when that would be too long. */
function nameFor(base: string, schema: string): string {
  const name = `${base}@${schema}`;
  if (name.length <= MAX_NAME) return name;
  return `${base}@${createHash('sha256').update(schema).digest('hex').slice(0, MAX_NAME - base.length - 1)}`;
}

/** Every statement of an enqueue, for one schema (enqueueStatements). */
export interface EnqueueStatements {
  findByIdentity: Statement;
  getOrCreate: Statement;
  findParents: Statement;
  findCycle: Statement;
  upsertEdges: Statement;
  deleteExtraEdges: Statement;
  resetExisting: Statement;
  ensureCollections: Statement;
  queuedRefs: Statement;
  notifyEach: Statement;
  lockCaps: Statement;
  countWaiting: Statement;
}

export interface TaskIdentityRow {
  id: string;
  collection: string;
  func: string;
  status: string;
  /** The stored one: a call that finds an existing task does not change it. */
  priority: number;
  ord?: number;
}

/** `s` is the schema's prefix: `"laterz".`, or '' for a statement that follows search_path. */
type Prefix = string;

/** One identity's task, found through its key (task_key_pk), then the task by primary key. */
const byIdentity = (s: Prefix) => `
      SELECT t.id, t.collection, t.func, t.status, t.priority FROM ${s}task_key tk JOIN ${s}task t ON t.id = tk.task_id
       WHERE tk.collection = k.collection AND tk.func = k.func AND tk.args_hash = k.args_hash`;

/**
 * Would any new edge prev -> next close a cycle? Walks down from each next over the existing
 * edges plus the new ones; a walk that reaches its own prev is a cycle.
 */
const findCycle = (s: Prefix) => `
    WITH RECURSIVE new_edge(prev_id, next_id) AS (
           SELECT * FROM unnest($1::bigint[], $2::bigint[])
         ),
         walk(target, next_edge, id) AS (
           SELECT prev_id, next_id, next_id FROM new_edge
           UNION
           SELECT w.target, w.next_edge, e.next_id
             FROM walk w
            CROSS JOIN LATERAL (
                  SELECT d.next_id FROM ${s}task_dependency d WHERE d.prev_id = w.id
                  UNION ALL
                  SELECT n.next_id FROM new_edge n WHERE n.prev_id = w.id) e
         )
    SELECT target::text AS prev, next_edge::text AS next FROM walk WHERE id = target LIMIT 1`;

/** The finisher's cycle check (on the engine's own pool, whose search_path is the schema). */
export const FIND_CYCLE: Statement = { name: 'laterz_find_cycle', text: findCycle('') };

/** The enqueue's statements on the tables of `schema`, whatever the session's search_path. */
export function enqueueStatements(schema: string): EnqueueStatements {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`DB_SCHEMA ${JSON.stringify(schema)} is not a lower-case SQL identifier`);
  const s = `"${schema}".`;
  const named = (base: string, text: string): Statement => ({ name: nameFor(base, schema), text });
  return {
    /** Existing tasks among the requested identities (get-or-create, first half). */
    findByIdentity: named(
      'laterz_find_by_identity',
      `
    SELECT t.id::text AS id, t.collection, t.func, t.status::text AS status, t.priority, k.ord
      FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[]) AS k(collection, func, args_hash, ord),
           LATERAL (${byIdentity(s)}) t`,
    ),

    /**
     * get-or-create in one statement: the keys are inserted first (ON CONFLICT skips an identity that
     * has one), and only the identities that got a key get a task row, under the id the key took from
     * the identity column's own sequence (task_id_seq). The new rows come back, then the existing ones
     * as the statement's snapshot saw them. A row another caller committed meanwhile is in neither half
     * (ON CONFLICT skipped it); the caller finds it after.
     */
    getOrCreate: named(
      'laterz_get_or_create_tasks',
      `
    WITH k AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::bytea[], $5::${s}task_status[], $6::int[], $7::smallint[],
                               $8::timestamptz[], $9::bigint[], $10::int[], $11::timestamptz[], $12::float8[], $13::jsonb[])
                    AS k(collection, func, args, args_hash, status, version, priority, run_after, size_bytes, ord, expires_at, expire_ms, retry)
         ),
         keyed AS (
           INSERT INTO ${s}task_key (collection, func, args_hash, task_id)
           SELECT k.collection, k.func, k.args_hash, nextval('${s}task_id_seq'::regclass)
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
           INSERT INTO ${s}task (id, collection, func, args, args_hash, status, version, priority, run_after, size_bytes, expires_at, retry)
           SELECT id, collection, func, args, args_hash, status, version, priority, run_after, size_bytes,
                  COALESCE(expires_at, now() + expire_ms * interval '1 millisecond'), retry FROM created
         )
    SELECT true AS created, id::text AS id, collection, func, status::text AS status, priority, ord FROM created
    UNION ALL
    -- Only the identities this statement did not create are looked up: a batch of new calls costs
    -- no lookup at all, whatever plan a table without fresh statistics gets.
    SELECT false, t.id::text, t.collection, t.func, t.status::text, t.priority, k.ord
      FROM k, LATERAL (${byIdentity(s)}) t
     WHERE k.ord NOT IN (SELECT ord FROM created)`,
    ),

    /** The parents named by dependsOn: they must exist and share the child's collection. */
    findParents: named('laterz_find_parents', `SELECT id::text AS id, collection FROM ${s}task WHERE id = ANY($1::bigint[])`),

    findCycle: named('laterz_find_cycle', findCycle(s)),

    /** New edges, or edges whose parent changed under the same name: both make the child run again. */
    upsertEdges: named(
      'laterz_upsert_edges',
      `
    INSERT INTO ${s}task_dependency (prev_id, next_id, name)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) ORDER BY 2, 3
        ON CONFLICT (next_id, name) DO UPDATE SET prev_id = EXCLUDED.prev_id
     WHERE task_dependency.prev_id <> EXCLUDED.prev_id
    RETURNING next_id::text AS next_id`,
    ),

    /** deleteExtraDeps: drops the edges of these children that the call did not name. */
    deleteExtraEdges: named(
      'laterz_delete_extra_edges',
      `
    DELETE FROM ${s}task_dependency d
     WHERE d.next_id = ANY($1::bigint[])
       AND NOT EXISTS (SELECT 1 FROM unnest($2::bigint[], $3::text[]) AS k(next_id, name)
                        WHERE k.next_id = d.next_id AND k.name = d.name)`,
    ),

    /**
     * Existing tasks the call wants to run: finished ones to run again (retry, new edge), pending ones
     * handed to the broker now. Conditional on the status read under the row lock.
     */
    resetExisting: named(
      'laterz_reset_existing',
      `
    UPDATE ${s}task t
       SET status = CASE WHEN k.queue THEN 'queued'::${s}task_status ELSE 'pending'::${s}task_status END,
           error = '', broken_reason = '', log = '', date_modified = now()
      FROM unnest($1::bigint[], $2::bool[], $3::bool[]) AS k(id, rerun, queue)
     WHERE t.id = k.id
       AND ((k.rerun AND t.status IN ('success', 'broken', 'error'))
         OR (k.queue AND t.status = 'pending'))
    RETURNING t.id::text AS id, t.status::text AS status`,
    ),

    /** A collection named for the first time by an enqueue gets its row (process on, sync off). */
    ensureCollections: named(
      'laterz_ensure_collections',
      `INSERT INTO ${s}collection (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`,
    ),

    /** The refs of those tasks that are still `queued` (published once the caller's transaction has committed). */
    queuedRefs: named(
      'laterz_queued_refs',
      `SELECT id::text AS "taskId", collection, func, priority FROM ${s}task WHERE id = ANY($1::bigint[]) AND status = 'queued'`,
    ),

    /**
     * Queue caps: enqueues of one capped func take turns (a transaction-scoped lock per func, in name
     * order), so that the count below and the insert it allows are not raced by another enqueue.
     */
    lockCaps: named('laterz_lock_caps', `SELECT pg_advisory_xact_lock(${CAP_LOCK_CLASS}, hashtext(f)) FROM (SELECT DISTINCT unnest($1::text[]) AS f ORDER BY 1) x`),

    /**
     * How many tasks of each func wait (pending, queued, deferred), counted on task_waiting_func_idx up
     * to $2 (the cap + 1: enough to know it is over) when $3, otherwise in full (the QueueFull message).
     */
    countWaiting: named(
      'laterz_count_waiting',
      `
    SELECT f.func, (SELECT count(*) FROM (SELECT 1 FROM ${s}task t
                                           WHERE t.func = f.func AND t.status IN ('pending', 'queued', 'deferred')
                                           LIMIT CASE WHEN $3::bool THEN f.upto END) w)::int AS depth
      FROM unnest($1::text[], $2::bigint[]) AS f(func, upto)`,
    ),

    /** One NOTIFY per payload on one channel; inside a transaction, delivered at its commit (dropped by a rollback). */
    notifyEach: { name: 'laterz_notify_each', text: `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p` },
  };
}
