import { Injectable, Module } from '@nestjs/common';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { bootstrap, Running } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import type { EnvSchema } from '../../src/config/env.schema.js';
import type { Statement } from '../../src/database/queryable.js';
import type { BulkTask } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { wallMs } from '../lib/clock.js';
import type { BenchTarget } from '../lib/databases.js';
import { progress } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';

/*
 * The big task table the cron-job scenarios (dispatcher-tick, stats, bulk) run on, the scheduler
 * app they drive in this process, and EXPLAIN (ANALYZE, BUFFERS) of their statements on it.
 */

export const COLLECTIONS = ['bench-c0', 'bench-c1', 'bench-c2', 'bench-c3', 'bench-c4'];
export const FUNCS = ['bench.f0', 'bench.f1', 'bench.f2', 'bench.f3', 'bench.f4', 'bench.f5'];
export const BULK_FUNC = 'bench.bulk';
/** bench.f5 re-runs its successes after a day in bench-c0, the one sync collection. */
export const RESYNC_FUNC = 'bench.f5';
export const SYNC_COLLECTION = 'bench-c0';
/** Every bench func is at version 1; 2 % of the finished rows are at version 0 (outdated). */
export const VERSION = 1;

/** Every func of the table; none does anything (the scheduler role runs no worker). */
@Injectable()
class CronBenchHandlers {
  @TaskHandler('bench.f0', { version: VERSION })
  f0(): null {
    return null;
  }
  @TaskHandler('bench.f1', { version: VERSION })
  f1(): null {
    return null;
  }
  @TaskHandler('bench.f2', { version: VERSION })
  f2(): null {
    return null;
  }
  @TaskHandler('bench.f3', { version: VERSION })
  f3(): null {
    return null;
  }
  @TaskHandler('bench.f4', { version: VERSION })
  f4(): null {
    return null;
  }
  @TaskHandler('bench.f5', { version: VERSION, resync: '1d' })
  f5(): null {
    return null;
  }
  /** The no-op bulk func: every task of the batch done. */
  @TaskHandler(BULK_FUNC, { version: VERSION, bulk: true })
  bulk(batch: BulkTask[]): Map<string, boolean> {
    return new Map(batch.map((t) => [t.id, true]));
  }
}

@Module({ providers: [CronBenchHandlers] })
export class CronBenchHandlersModule {}

export function tableRows(options: BenchOptions): number {
  return options.large ? 10_000_000 : options.quick ? 100_000 : 1_000_000;
}

const CHUNK = 1_000_000;

/**
 * The mix (ids are 1..N: the database is new), by one random draw per row: 2 % finished at an older version, 1 % finished in the last
 * hour, 3 % pending, 2 % error, 2 % broken, 1.5 % deferred, 0.1 % started (dead: no worker holds
 * them), the rest (88.4 %) successful, finished over the last 7 days. 2 % of the rows are of the
 * bulk func, the rest spread over six funcs; rows go round-robin over five collections.
 */
const INSERT_MIX = `
  INSERT INTO task (collection, func, args, args_hash, status, version, error, broken_reason, fail_count, attempt,
                    size_bytes, worker, date_created, date_modified, date_started, date_finished)
  SELECT collection, func, args::jsonb, sha256(convert_to(args, 'UTF8')),
         (CASE WHEN kind IN ('outdated', 'recent') THEN 'success' ELSE kind END)::task_status,
         CASE WHEN kind = 'outdated' THEN ${VERSION - 1} ELSE ${VERSION} END,
         CASE WHEN kind = 'error' THEN (ARRAY['upstream said 503', 'connection reset by peer', 'timeout talking to the index', 'disk full'])[1 + floor(r3 * 4)::int] ELSE '' END,
         CASE WHEN kind = 'broken' THEN (ARRAY['corrupt_input', 'task_killed', 'timeout', 'dependency_has_error'])[1 + floor(r3 * 4)::int] ELSE '' END,
         CASE WHEN kind IN ('error', 'broken') THEN floor(r3 * 9)::int ELSE 0 END,
         CASE WHEN kind IN ('pending', 'deferred') THEN 0 ELSE 1 END,
         floor(r3 * r3 * 500000)::bigint,
         CASE WHEN kind = 'started' THEN 'bench-gone:1' END,
         modified - interval '1 minute', modified,
         CASE WHEN kind IN ('pending', 'deferred') THEN NULL
              WHEN kind = 'started' THEN modified
              ELSE modified - make_interval(secs => 0.02 + r3 * 5) END,
         CASE WHEN kind IN ('pending', 'deferred', 'started') THEN NULL ELSE modified END
    FROM (SELECT *, now() - CASE kind WHEN 'recent' THEN interval '1 hour'
                                      WHEN 'pending' THEN interval '6 hours'
                                      WHEN 'deferred' THEN interval '1 day'
                                      WHEN 'started' THEN interval '2 hours'
                                      ELSE interval '7 days' END * r2 AS modified
            FROM (SELECT 'bench-c' || (g % 5) AS collection,
                         CASE WHEN r4 < 0.02 THEN '${BULK_FUNC}' ELSE 'bench.f' || floor((r4 - 0.02) / 0.98 * 6)::int END AS func,
                         format('{"doc":%s,"path":"/data/%s/%s.pdf"}', g, g % 997, g) AS args,
                         CASE WHEN r < 0.020 THEN 'outdated' WHEN r < 0.030 THEN 'recent' WHEN r < 0.060 THEN 'pending'
                              WHEN r < 0.080 THEN 'error' WHEN r < 0.100 THEN 'broken' WHEN r < 0.115 THEN 'deferred'
                              WHEN r < 0.116 THEN 'started' ELSE 'success' END AS kind,
                         r2, r3
                    FROM (SELECT g, random() AS r, random() AS r2, random() AS r3, random() AS r4
                            FROM generate_series($1::bigint, $2::bigint) g) d) k) m`;

async function withClient<T>(db: BenchTarget, work: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: db.url, application_name: 'laterz-bench', options: `-c search_path=${db.schema}` });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Fills `task` with `rows` tasks of the mix: the secondary indexes are dropped first and built
 * again afterwards (as a restore would; inserting into six random-order indexes is what makes a
 * naive seed slow), then VACUUM ANALYZE, as autovacuum would have left a long-lived table.
 * Returns how long it took, seconds.
 */
export async function seedTaskTable(db: BenchTarget, rows: number): Promise<number> {
  const t0 = wallMs();
  await withClient(db, async (c) => {
    // No autovacuum while the table fills: an autoanalyze running next to the VACUUM below holds
    // back the horizon, and pages left not all-visible would turn index-only scans into heap reads.
    await c.query('ALTER TABLE task SET (autovacuum_enabled = false)');
    await c.query(`SET maintenance_work_mem = '1GB'`);
    await c.query('SET synchronous_commit = off');
    await c.query('SELECT setseed(0.4242)');
    await c.query(`INSERT INTO collection (name, sync) SELECT unnest($1::text[]), unnest($2::boolean[]) ON CONFLICT (name) DO NOTHING`, [
      COLLECTIONS,
      COLLECTIONS.map((name) => name === SYNC_COLLECTION),
    ]);
    const { rows: indexes } = await c.query<{ name: string; def: string }>(
      `SELECT indexname AS name, indexdef AS def FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'task'
          AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'task'::regclass)`,
    );
    for (const ix of indexes) await c.query(`DROP INDEX ${ix.name}`);
    for (let from = 1; from <= rows; from += CHUNK) {
      const to = Math.min(rows, from + CHUNK - 1);
      await c.query(INSERT_MIX, [from, to]);
      // A third of the tasks have a parent (five rows back: the same collection).
      await c.query(
        `INSERT INTO task_dependency (prev_id, next_id, name)
         SELECT g - 5, g, 'parent' FROM generate_series(greatest($1::bigint, 6), $2::bigint) g WHERE g % 3 = 0`,
        [from, to],
      );
      progress(`seeded ${to.toLocaleString('en-US')} of ${rows.toLocaleString('en-US')} tasks`);
    }
    for (const ix of indexes) await c.query(ix.def);
    progress(`rebuilt ${indexes.length} indexes`);
    await c.query('VACUUM (ANALYZE) task');
    await c.query('ALTER TABLE task SET (autovacuum_enabled = true)');
  });
  const seconds = (wallMs() - t0) / 1000;
  progress(`table ready in ${Math.round(seconds)} s`);
  return seconds;
}

/** Rows of the table by status (for the results' params). */
export async function statusCounts(db: BenchTarget): Promise<Record<string, number>> {
  return withClient(db, async (c) => {
    const { rows } = await c.query<{ status: string; n: string }>('SELECT status::text AS status, count(*) AS n FROM task GROUP BY 1 ORDER BY 1');
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  });
}

export async function vacuum(db: BenchTarget): Promise<void> {
  await withClient(db, (c) => c.query('VACUUM task').then(() => undefined));
}

/** The scheduler role in this process on the bench database; its timers never fire (the bench calls runOnce). */
export async function startScheduler(db: BenchTarget, env: Partial<Record<keyof EnvSchema, string>> = {}): Promise<Running> {
  const config = AppConfig.fromEnv({
    DATABASE_URL: db.url,
    DB_SCHEMA: db.schema,
    PORT: '0',
    ROLES: 'scheduler',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    DISPATCH_INTERVAL_SECONDS: '86400',
    BULK_INTERVAL_SECONDS: '86400',
    STATS_INTERVAL_SECONDS: '86400',
    COLLECTIONS: `${SYNC_COLLECTION}:sync`,
    PIPELINE_ENABLED: 'false',
    ...env,
  });
  return bootstrap(config, { handleSignals: false, imports: [CronBenchHandlersModule] });
}

export async function timedMs<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = performance.now();
  const result = await work();
  return { ms: performance.now() - t0, result };
}

/** One statement to explain, with the values it runs with. */
export interface Explained {
  label: string;
  statement: Statement;
  values: unknown[];
  /** Run first in the same (rolled back) transaction, unexplained: e.g. mark the rows started. */
  setup?: { statement: Statement; values: unknown[] };
}

export interface PlanSummary {
  label: string;
  /** Scan nodes of the custom plan: `Index Scan using task_active_idx`, … */
  scans: string[];
  /** The generic plan's (what a named statement may switch to after five runs), when it differs. */
  genericScans?: string[];
  executionMs: number;
  seqScan: boolean;
}

const SCAN = /(Seq Scan|Parallel Seq Scan|Index Only Scan Backward|Index Only Scan|Index Scan Backward|Index Scan|Bitmap Index Scan|Bitmap Heap Scan|Function Scan|Values Scan|Subquery Scan|CTE Scan)(?: using (\S+))?(?: on (\S+))?/;

function scansOf(plan: string): string[] {
  const out: string[] = [];
  for (const line of plan.split('\n')) {
    const m = SCAN.exec(line);
    if (!m || ['Function Scan', 'Values Scan', 'Subquery Scan', 'CTE Scan'].includes(m[1])) continue;
    out.push(m[2] ? `${m[1]} using ${m[2]}` : `${m[1]} on ${m[3]}`);
  }
  return [...new Set(out)];
}

/** A value as an SQL literal (arrays as array literals), for EXECUTE. */
function literal(c: Client, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const item = (v: unknown) => (v === null || v === undefined ? 'NULL' : `"${String(v).replace(/["\\]/g, (ch) => `\\${ch}`)}"`);
    return c.escapeLiteral(`{${value.map(item).join(',')}}`);
  }
  return c.escapeLiteral(String(value));
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of each statement with its values, inside a transaction that is
 * rolled back (the writes leave nothing behind): the custom plan (what a named statement's first
 * runs get) and the generic one (what it may switch to after five), written to `bench-results/<file>`.
 */
export async function explainAll(db: BenchTarget, options: BenchOptions, file: string, statements: Explained[]): Promise<PlanSummary[]> {
  const summaries: PlanSummary[] = [];
  const sections: string[] = [];
  await withClient(db, async (c) => {
    const rows = (await c.query<{ n: string }>('SELECT count(*) AS n FROM task')).rows[0].n;
    sections.push(`# EXPLAIN (ANALYZE, BUFFERS) on a task table of ${Number(rows).toLocaleString('en-US')} rows, ${new Date().toISOString()}\n`);
    for (const { label, statement, values, setup } of statements) {
      // Utility statements take no bind parameters: PREPARE the statement, EXPLAIN EXECUTE it with
      // the values as literals, once under each plan_cache_mode.
      const args = values.map((v) => literal(c, v)).join(', ');
      const explain = async (mode: 'force_custom_plan' | 'force_generic_plan') => {
        await c.query('BEGIN');
        try {
          await c.query(`SET LOCAL plan_cache_mode = ${mode}`);
          if (setup) await c.query({ text: setup.statement.text, values: setup.values });
          await c.query(`PREPARE bench_explained AS ${statement.text}`);
          const { rows: plan } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_explained${args ? `(${args})` : ''}`);
          return plan.map((r) => r['QUERY PLAN']).join('\n');
        } finally {
          await c.query('ROLLBACK');
          await c.query('DEALLOCATE ALL');
        }
      };
      const custom = await explain('force_custom_plan');
      const generic = await explain('force_generic_plan');
      const time = /Execution Time: ([\d.]+) ms/.exec(custom);
      const scans = scansOf(custom);
      const genericScans = scansOf(generic);
      const summary: PlanSummary = {
        label,
        scans,
        executionMs: time ? Number(time[1]) : NaN,
        // A catalog read (pg_database's dozen rows) is no concern; a table of the engine is.
        seqScan: [...scans, ...genericScans].some((s) => s.includes('Seq Scan') && !s.includes(' on pg_')),
      };
      if (genericScans.join() !== scans.join()) summary.genericScans = genericScans;
      summaries.push(summary);
      sections.push(
        `## ${label} (${statement.name})\nvalues: ${JSON.stringify(values)}\n\n${statement.text.trim()}\n\n-- custom plan\n${custom}\n\n-- generic plan\n${generic}\n`,
      );
    }
  });
  await mkdir(options.outDir, { recursive: true });
  const path = join(options.outDir, file);
  await writeFile(path, sections.join('\n'));
  progress(`plans → ${path}`);
  for (const s of summaries) progress(`  ${s.label}: ${s.executionMs} ms, ${s.scans.join(', ')}${s.seqScan ? '  ← SEQ SCAN' : ''}`);
  return summaries;
}
