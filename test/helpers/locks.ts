import type { TestApp } from './test-app.js';

/** The session holding a task's advisory lock: its backend pid and application name. */
export async function lockHolder(app: Pick<TestApp, 'db'>, id: string): Promise<{ pid: number; app: string } | undefined> {
  const { rows } = await app.db.query<{ pid: number; app: string }>(
    `SELECT l.pid, a.application_name AS app
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [id],
  );
  return rows[0];
}

