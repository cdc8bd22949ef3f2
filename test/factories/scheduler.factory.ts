import type { Pool, PoolClient } from 'pg';
import { insertTasks, TaskRow } from './task.factory.js';

/** A task row with the columns the cron jobs read besides the basic ones. */
export interface DetailedTaskRow extends TaskRow {
  error?: string;
  brokenReason?: string;
  /** Seconds between date_started and date_finished (with finishedAgo; the base factory makes it 1). */
  durationSeconds?: number;
  /** Seconds from now until the task may run (negative: in the past). */
  runAfterIn?: number;
}

/**
 * Inserts rows through `insertTasks`, then sets the extra columns of those that name any, in one
 * statement. Returns the ids in the order of `rows`.
 */
export async function insertDetailedTasks(db: Pool, rows: DetailedTaskRow[]): Promise<string[]> {
  const ids = await insertTasks(db, rows);
  const patched = rows.map((r, i) => ({ r, id: ids[i] })).filter(({ r }) => r.error !== undefined || r.brokenReason !== undefined || r.durationSeconds !== undefined || r.runAfterIn !== undefined);
  if (patched.length > 0) {
    await db.query(
      `UPDATE task t
          SET error = COALESCE(v.error, t.error),
              broken_reason = COALESCE(v.reason, t.broken_reason),
              date_started = CASE WHEN v.duration IS NULL OR t.date_finished IS NULL THEN t.date_started
                                  ELSE t.date_finished - make_interval(secs => v.duration) END,
              run_after = CASE WHEN v.run_after IS NULL THEN t.run_after ELSE now() + make_interval(secs => v.run_after) END
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::float8[]) AS v(id, error, reason, duration, run_after)
        WHERE t.id = v.id`,
      [
        patched.map((p) => p.id),
        patched.map((p) => p.r.error ?? null),
        patched.map((p) => p.r.brokenReason ?? null),
        patched.map((p) => p.r.durationSeconds ?? null),
        patched.map((p) => p.r.runAfterIn ?? null),
      ],
    );
  }
  return ids;
}

/** `n` rows alike but for their args; `each(i)` adds per-row columns (e.g. a spread of ages). */
export function many(n: number, row: DetailedTaskRow, each: (i: number) => Partial<DetailedTaskRow> = () => ({})): DetailedTaskRow[] {
  return Array.from({ length: n }, (_, i) => ({ ...row, ...each(i) }));
}

/** Dependency edges `prev -> next` named `name`. */
export async function insertEdges(db: Pool, edges: { prev: string; next: string; name: string }[]): Promise<void> {
  await db.query(`INSERT INTO task_dependency (prev_id, next_id, name) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])`, [
    edges.map((e) => e.prev),
    edges.map((e) => e.next),
    edges.map((e) => e.name),
  ]);
}

/** Removes every task (keys, edges and attempts go with them): each test starts from an empty table. */
export async function clearTasks(db: Pool): Promise<void> {
  await db.query('TRUNCATE task, task_key, task_dependency, task_attempt, collection_stats');
}

/**
 * Holds the session advisory locks of `ids` on a connection of its own, as a live worker does;
 * `release()` unlocks and returns the connection.
 */
export async function holdTaskLocks(db: Pool, ids: string[]): Promise<{ client: PoolClient; release: () => Promise<void> }> {
  const client = await db.connect();
  await client.query('SELECT pg_advisory_lock(x) FROM unnest($1::bigint[]) AS x', [ids]);
  return {
    client,
    release: async () => {
      try {
        await client.query('SELECT pg_advisory_unlock_all()');
      } finally {
        client.release();
      }
    },
  };
}

/** One row of `task`, as the table holds it. */
export async function taskRow(db: Pool, id: string): Promise<Record<string, unknown>> {
  return (await db.query('SELECT * FROM task WHERE id = $1', [id])).rows[0] as Record<string, unknown>;
}

/** Ids (as strings) of the tasks in `status`, in id order. */
export async function idsWithStatus(db: Pool, status: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT id::text AS id FROM task WHERE status = $1::task_status ORDER BY task.id`, [status]);
  return rows.map((r) => r.id);
}

/**
 * Records `funcs` as served by a live process elsewhere (`server`, seen at 'infinity': live for the
 * whole test file), as a worker of another process would: the dispatcher queues only the tasks of
 * funcs with a live server.
 */
export async function serveElsewhere(db: Pool, funcs: { name: string; version: number; queue?: string; bulk?: boolean }[], server = 'elsewhere:0:test'): Promise<void> {
  await db.query(
    `WITH f AS (SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::boolean[]) AS f(name, version, queue, bulk)),
          recorded AS (INSERT INTO func (name, version, queue, bulk) SELECT * FROM f ON CONFLICT (name) DO NOTHING)
     INSERT INTO func_server (func, server, version, last_seen) SELECT name, $5, version, 'infinity' FROM f
     ON CONFLICT (func, server) DO UPDATE SET version = EXCLUDED.version, last_seen = EXCLUDED.last_seen`,
    [funcs.map((f) => f.name), funcs.map((f) => f.version), funcs.map((f) => f.queue ?? 'default'), funcs.map((f) => f.bulk ?? false), server],
  );
}
