import { Client } from 'pg';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { FINISH_BULK_IF_STARTED, START_BULK_BATCH } from '../../src/maintenance/bulk/sql/bulk.sql.js';
import { BenchTarget, withDatabase } from '../lib/databases.js';
import { progress } from '../lib/harness.js';
import { round } from '../lib/stats.js';
import type { Scenario } from './scenario.js';
import { BULK_FUNC, explainAll, Explained, FUNCS, seedTaskTable, startScheduler, statusCounts, tableRows, timedMs, VERSION } from './task-table.js';

const BULK_COLLECTION = 'bench-bulk';
/** Tasks per batch: of 300 (the default), 1000, 2000 and 5000 tried on the 1M table, 2000 drained fastest. */
const MAX_TASKS = 2000;

async function seedBulk(db: BenchTarget, n: number): Promise<void> {
  const c = new Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
  await c.connect();
  try {
    await c.query('ALTER TABLE task SET (autovacuum_enabled = false)');
    await c.query(`INSERT INTO collection (name) VALUES ($1) ON CONFLICT DO NOTHING`, [BULK_COLLECTION]);
    await c.query(
      `INSERT INTO task (collection, func, args, args_hash, status, version, size_bytes, date_modified)
       SELECT $1, $2, a::jsonb, sha256(convert_to(a, 'UTF8')), 'pending', $4, 1000 + g % 5000, now() - interval '10 minutes' + g * interval '1 millisecond'
         FROM (SELECT g, format('{"bulk":%s}', g) AS a FROM generate_series(1, $3::int) g) s`,
      [BULK_COLLECTION, BULK_FUNC, n, VERSION],
    );
    await c.query('VACUUM (ANALYZE) task');
    await c.query('ALTER TABLE task SET (autovacuum_enabled = true)');
  } finally {
    await c.end();
  }
}

function bulkStatements(ids: string[], attempts: number[]): Explained[] {
  const funcs = [...FUNCS, BULK_FUNC];
  const start = (collection: string) => [collection, BULK_FUNC, VERSION, MAX_TASKS, funcs, funcs.map(() => VERSION), 2000, 31457280, 'bench:1:bulk'];
  return [
    { label: 'start a batch (candidates, deferred, advisory locks, started)', statement: START_BULK_BATCH, values: start(BULK_COLLECTION) },
    { label: 'start a batch (mixed collection)', statement: START_BULK_BATCH, values: start('bench-c1') },
    {
      label: 'finish (the batch started first)',
      statement: FINISH_BULK_IF_STARTED,
      setup: { statement: START_BULK_BATCH, values: start(BULK_COLLECTION) },
      values: [ids, attempts.map((a) => a + 1), ids.map(() => 'success'), ids.map(() => 0.001), '', '', VERSION, '', 10, [BULK_FUNC]],
    },
  ];
}

/**
 * Throughput of the no-op bulk func: `n` pending bulk tasks in a collection of their own, on top of
 * the seeded table, run by BulkRunnerService.runOnce() until none is left.
 */
export const bulk: Scenario = {
  name: 'bulk',
  description: 'no-op bulk func: BulkRunnerService.runOnce() over 100k pending bulk tasks on a 1M-task table (10M with --large)',
  async run({ options, laterz }) {
    const rows = tableRows(options);
    const n = options.quick ? 20_000 : 100_000;
    return withDatabase(options, 'bulk', async (db) => {
      await laterz.install(db.url);
      const seedSeconds = await seedTaskTable(db, rows);
      await seedBulk(db, n);
      const mix = await statusCounts(db);
      const sample = await (async () => {
        const c = new Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
        await c.connect();
        try {
          const { rows: r } = await c.query<{ id: string; attempt: number }>(
            `SELECT id::text AS id, attempt FROM task WHERE collection = $1 ORDER BY date_modified LIMIT $2`,
            [BULK_COLLECTION, MAX_TASKS],
          );
          return r;
        } finally {
          await c.end();
        }
      })();
      const plans = await explainAll(db, options, `plans-bulk${options.large ? '-10m' : ''}.txt`, bulkStatements(sample.map((s) => s.id), sample.map((s) => s.attempt)));

      const app = await startScheduler(db, { BULK_MAX_TASKS: String(MAX_TASKS), SYSTEM_TASK_DEADLINE_SECONDS: '600' });
      try {
        const runner = app.app.get(BulkRunnerService, { strict: false });
        let ran = 0;
        let batches = 0;
        const run = await timedMs(async () => {
          for (let i = 0; i < 20; i++) {
            const r = await runner.runOnce();
            ran += r.ran;
            batches += r.batches;
            if (r.ran === 0) break;
          }
        });
        const rate = ran / (run.ms / 1000);
        progress(`bulk: ${ran} tasks in ${batches} batches, ${round(run.ms)} ms: ${round(rate)} tasks/s`);
        if (ran < n) throw new Error(`only ${ran} of ${n} bulk tasks ran`);
        return {
          metric: 'throughput',
          value: round(rate),
          unit: 'tasks/s',
          better: 'higher',
          runs: [round(rate)],
          params: {
            rows,
            pendingBulk: n,
            ran,
            batches,
            BULK_MAX_TASKS: MAX_TASKS,
            mix,
            seedSeconds: round(seedSeconds),
            method: 'in-process ROLES=scheduler app; runOnce() until a run finds nothing; tasks run (the 100k plus the mix\'s own bulk tasks) per second of wall time',
          },
          details: { plans },
        };
      } finally {
        await app.shutdown();
      }
    });
  },
};
