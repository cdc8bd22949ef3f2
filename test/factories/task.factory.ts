import { createHash, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { waitFor } from '../helpers/databases.js';

export interface TaskRow {
  collection?: string;
  func: string;
  args?: unknown;
  status?: string;
  version?: number;
  failCount?: number;
  attempt?: number;
  sizeBytes?: number;
  /** How long ago the row was last modified, seconds. */
  modifiedAgo?: number;
  /** How long ago it finished, seconds (sets date_started a second earlier). */
  finishedAgo?: number;
  worker?: string;
}

/** Inserts task rows in any state, straight into the table (factories skip the engine on purpose). */
export async function insertTasks(db: Pool, rows: TaskRow[]): Promise<string[]> {
  const args = rows.map((r) => JSON.stringify(r.args ?? { u: randomUUID() }));
  const { rows: out } = await db.query<{ id: string }>(
    `WITH t AS (
       INSERT INTO task (collection, func, args, args_hash, status, version, fail_count, attempt, size_bytes,
                         date_modified, date_finished, date_started, worker)
       SELECT c, f, a::jsonb, h, s::task_status, v, fc, at, sb,
              now() - make_interval(secs => ma),
              CASE WHEN fa IS NULL THEN NULL ELSE now() - make_interval(secs => fa) END,
              CASE WHEN fa IS NULL THEN NULL ELSE now() - make_interval(secs => fa + 1) END,
              w
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::int[], $7::int[], $8::int[],
                     $9::bigint[], $10::float8[], $11::float8[], $12::text[])
              AS x(c, f, a, h, s, v, fc, at, sb, ma, fa, w)
       RETURNING id, collection, func, args_hash
     ),
     -- Each row gets its identity key, as enqueue writes it (a second row of one identity fails, as it would).
     k AS (INSERT INTO task_key (collection, func, args_hash, task_id) SELECT collection, func, args_hash, id FROM t)
     SELECT t.id::text AS id FROM t ORDER BY t.id`,
    [
      rows.map((r) => r.collection ?? 'default'),
      rows.map((r) => r.func),
      args,
      args.map((a) => createHash('sha256').update(a).digest()),
      rows.map((r) => r.status ?? 'pending'),
      rows.map((r) => r.version ?? 0),
      rows.map((r) => r.failCount ?? 0),
      rows.map((r) => r.attempt ?? 0),
      rows.map((r) => r.sizeBytes ?? 0),
      rows.map((r) => r.modifiedAgo ?? 0),
      rows.map((r) => r.finishedAgo ?? null),
      rows.map((r) => r.worker ?? null),
    ],
  );
  return out.map((r) => r.id);
}

export async function statusesOf(db: Pool, ids: string[]): Promise<Record<string, string>> {
  const { rows } = await db.query<{ id: string; status: string }>('SELECT id::text AS id, status::text AS status FROM task WHERE id = ANY($1::bigint[])', [ids]);
  return Object.fromEntries(rows.map((r) => [r.id, r.status]));
}

/** Statuses a run leaves a task in (it stays there until something queues it again). */
export const FINISHED_STATUSES = ['success', 'broken', 'error'];

/** One task row, every column as pg returns it. */
export async function taskRow(db: Pool, id: string) {
  return (await db.query('SELECT * FROM task WHERE id = $1', [id])).rows[0];
}

/** The task's row once a run has left it in a finished status (polled, no sleeps). */
export function finishedTask(db: Pool, id: string) {
  return waitFor(async () => {
    const r = await taskRow(db, id);
    return FINISHED_STATUSES.includes(r.status) ? r : undefined;
  }, `task ${id} to finish`);
}
