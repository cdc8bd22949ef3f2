import { Client, Pool } from 'pg';
import { AppConfig } from '../../src/config/app-config.js';
import { runMigrations } from '../../src/database/migrate.js';
import type { PublishRef } from '../../src/broker/broker.js';
import { argsHash, canonicalJson } from '../../src/tasks/canonical-json.js';
import type { Execution } from './execution-log.js';

/**
 * The checker's tables, in a schema of their own beside the engine's. `transition` is filled by a
 * statement-level trigger on `task`: one row per committed change of a task's status or attempt,
 * written in the changing transaction itself, so it holds exactly what committed, in row order
 * (a second writer of a row waits for the first to commit before its trigger runs). `run` holds
 * the executions the worker processes recorded, loaded after the run.
 */
const chaosSchemaSql = (engineSchema: string) => `
  CREATE SCHEMA chaos;
  CREATE TABLE chaos.transition (
    seq bigserial PRIMARY KEY,
    task_id bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_status text NOT NULL,
    new_status text NOT NULL,
    old_attempt int NOT NULL,
    new_attempt int NOT NULL,
    reason text NOT NULL,
    fail_count int NOT NULL,
    result_attempt int,
    error text NOT NULL
  );
  CREATE FUNCTION chaos.record_transitions() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO chaos.transition (task_id, old_status, new_status, old_attempt, new_attempt, reason, fail_count, result_attempt, error)
    SELECT n.id, o.status::text, n.status::text, o.attempt, n.attempt, n.broken_reason, n.fail_count,
           CASE WHEN jsonb_typeof(n.result) = 'object' AND n.result ? 'a' THEN (n.result->>'a')::int END,
           left(n.error, 200)
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE o.status IS DISTINCT FROM n.status OR o.attempt IS DISTINCT FROM n.attempt;
    RETURN NULL;
  END $$;
  CREATE TRIGGER chaos_transitions AFTER UPDATE ON ${engineSchema}.task
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chaos.record_transitions();
  CREATE TABLE chaos.run (
    id text PRIMARY KEY,
    task_id bigint NOT NULL,
    attempt int NOT NULL,
    func text NOT NULL,
    pid int NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    end_inferred boolean NOT NULL,
    outcome text,
    committed boolean NOT NULL
  );`;

/** A task as it stands at the end of a run. */
export interface TaskRow {
  id: string;
  func: string;
  status: string;
  attempt: number;
  failCount: number;
  reason: string;
  resultAttempt: number | null;
}

/** One committed change of a task's status or attempt. */
export interface Transition {
  seq: number;
  taskId: string;
  /** Epoch milliseconds (the database's clock_timestamp(): the same machine clock as the processes'). */
  at: number;
  oldStatus: string;
  newStatus: string;
  oldAttempt: number;
  newAttempt: number;
  reason: string;
  failCount: number;
  resultAttempt: number | null;
  error: string;
}

/** A task to seed: its func and args. */
export interface TaskSpec {
  func: string;
  args: Record<string, number>;
}

const SEED = `
  WITH v AS (
         SELECT 'default' AS collection, v.func, v.args, decode(v.hash, 'hex') AS args_hash,
                nextval('task_id_seq'::regclass) AS id
           FROM unnest($1::text[], $2::text[], $3::text[]) AS v(func, args, hash)
       ),
       keyed AS (
         INSERT INTO task_key (collection, func, args_hash, task_id)
         SELECT collection, func, args_hash, id FROM v
             ON CONFLICT DO NOTHING
         RETURNING task_id
       )
  INSERT INTO task (id, collection, func, args, args_hash, status, size_bytes)
  SELECT v.id, v.collection, v.func, v.args::jsonb, v.args_hash, 'queued', octet_length(v.args)
    FROM v JOIN keyed ON keyed.task_id = v.id
  RETURNING id::text AS "taskId", collection, func, priority`;

/** Final: succeeded, or failed with no retry left (or cancelled). Anything else is still to happen. */
const FINAL = `(status = 'success' OR (status IN ('error', 'broken') AND (fail_count >= $1 OR broken_reason = 'cancelled')))`;

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** The database of one scenario run on the chaos server, and the harness's own pool on it. */
export class ChaosDb {
  private constructor(
    readonly name: string,
    readonly url: string,
    /** Schema of the engine's tables (the user's DB_SCHEMA). */
    readonly schema: string,
    private readonly serverUrl: string,
    readonly pool: Pool,
  ) {}

  /** (Re)creates the database, applies the engine's migrations into `schema`, installs the checker's tables. */
  static async create(serverUrl: string, name: string, schema: string): Promise<ChaosDb> {
    await onServer(serverUrl, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${name}`);
    });
    const url = databaseUrl(serverUrl, name);
    await runMigrations(AppConfig.fromEnv({ DATABASE_URL: url, DB_SCHEMA: schema }), url);
    const install = new Client({ connectionString: url });
    await install.connect();
    try {
      await install.query(chaosSchemaSql(schema));
    } finally {
      await install.end();
    }
    const pool = new Pool({ connectionString: url, max: 3, application_name: 'chaos-harness', options: `-c search_path=${schema}` });
    // Scenario 3 restarts the server under this pool: a dropped idle client is expected, not fatal.
    pool.on('error', () => undefined);
    return new ChaosDb(name, url, schema, serverUrl, pool);
  }

  /** Inserts tasks as `enqueue` would write them (canonical args, their sha256), already queued; returns their refs. */
  async seed(specs: TaskSpec[]): Promise<PublishRef[]> {
    const args = specs.map((s) => canonicalJson(s.args));
    const { rows } = await this.pool.query<PublishRef>(SEED, [specs.map((s) => s.func), args, args.map((a) => argsHash(a).toString('hex'))]);
    return rows;
  }

  /** How many tasks are not final yet. */
  async open(allowedAttempts: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM task WHERE NOT ${FINAL}`, [allowedAttempts]);
    return rows[0].n;
  }

  /** Task counts by status, for progress lines. */
  async statusCounts(): Promise<Record<string, number>> {
    const { rows } = await this.pool.query<{ status: string; n: number }>(`SELECT status::text AS status, count(*)::int AS n FROM task GROUP BY 1 ORDER BY 1`);
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async tasks(): Promise<TaskRow[]> {
    const { rows } = await this.pool.query<TaskRow>(`
      SELECT id::text AS id, func, status::text AS status, attempt, fail_count AS "failCount", broken_reason AS reason,
             CASE WHEN jsonb_typeof(result) = 'object' AND result ? 'a' THEN (result->>'a')::int END AS "resultAttempt"
        FROM task ORDER BY id`);
    return rows;
  }

  async transitions(): Promise<Transition[]> {
    const { rows } = await this.pool.query<Omit<Transition, 'at' | 'seq'> & { seq: string; at: number }>(`
      SELECT seq::text AS seq, task_id::text AS "taskId", extract(epoch FROM at) * 1000 AS at, old_status AS "oldStatus",
             new_status AS "newStatus", old_attempt AS "oldAttempt", new_attempt AS "newAttempt", reason,
             fail_count AS "failCount", result_attempt AS "resultAttempt", error
        FROM chaos.transition ORDER BY seq`);
    return rows.map((r) => ({ ...r, seq: Number(r.seq), at: Number(r.at) }));
  }

  /** Backends of the worker processes' engine connections (schedulers connect under another name). */
  async workerBackends(names: readonly string[]): Promise<{ pid: number; name: string }[]> {
    const { rows } = await this.pool.query<{ pid: number; name: string }>(
      `SELECT pid, application_name AS name FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ANY($1::text[])`,
      [names],
    );
    return rows;
  }

  /** Open connections of this database by application name (of the given names). */
  async connections(names: readonly string[]): Promise<Record<string, number>> {
    const { rows } = await this.pool.query<{ name: string; n: number }>(
      `SELECT application_name AS name, count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = ANY($1::text[]) GROUP BY 1 ORDER BY 1`,
      [names],
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.n]));
  }

  /** Pids of the worker processes that hold started tasks now (task.worker is host:pid). */
  async busyPids(): Promise<Set<number>> {
    const { rows } = await this.pool.query<{ pid: number }>(
      `SELECT DISTINCT split_part(worker, ':', 2)::int AS pid FROM task WHERE status = 'started' AND worker LIKE '%:%'`,
    );
    return new Set(rows.map((r) => r.pid));
  }

  /** Tasks running now. */
  async running(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM task WHERE status = 'started'`);
    return rows[0].n;
  }

  async terminate(pid: number): Promise<boolean> {
    const { rows } = await this.pool.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    return rows[0].ok;
  }

  /** Keeps the recorded executions beside the tasks, with whether each one's finish committed. */
  async saveExecutions(executions: Execution[], endOf: (e: Execution) => { at: number; inferred: boolean }, committed: (e: Execution) => boolean): Promise<void> {
    for (let i = 0; i < executions.length; i += 5000) {
      const slice = executions.slice(i, i + 5000);
      const ends = slice.map(endOf);
      await this.pool.query(
        `INSERT INTO chaos.run (id, task_id, attempt, func, pid, started_at, ended_at, end_inferred, outcome, committed)
         SELECT id, task_id, attempt, func, pid, to_timestamp(s / 1000), CASE WHEN e IS NULL THEN NULL ELSE to_timestamp(e / 1000) END, inferred, outcome, committed
           FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[], $5::int[], $6::float8[], $7::float8[], $8::boolean[], $9::text[], $10::boolean[])
                AS v(id, task_id, attempt, func, pid, s, e, inferred, outcome, committed)`,
        [
          slice.map((e) => e.id),
          slice.map((e) => e.taskId),
          slice.map((e) => e.attempt),
          slice.map((e) => e.func),
          slice.map((e) => e.pid),
          slice.map((e) => e.startedAt),
          ends.map((x) => (Number.isFinite(x.at) ? x.at : null)),
          ends.map((x) => x.inferred),
          slice.map((e) => e.outcome ?? null),
          slice.map(committed),
        ],
      );
    }
  }

  async close(drop: boolean): Promise<void> {
    await this.pool.end().catch(() => undefined);
    if (drop) await onServer(this.serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`));
  }
}

async function onServer<T>(serverUrl: string, work: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: serverUrl, application_name: 'chaos-harness' });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}
