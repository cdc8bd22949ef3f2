import { Pool } from 'pg';
import { AppConfig } from '../../src/config/app-config.js';
import { Db } from '../../src/database/db.js';
import { Broker } from '../../src/broker/broker.js';
import { DueGateway } from '../../src/maintenance/due/due.gateway.js';
import { DueScanService } from '../../src/maintenance/due/due-scan.service.js';
import { QUEUE_DUE } from '../../src/maintenance/due/sql/due.sql.js';
import { DISPATCH_PROBE } from '../../src/maintenance/dispatch/sql/dispatch.sql.js';
import { FuncCatalog } from '../../src/tasks/func-catalog.js';
import { BENCH_FUNCS } from '../bench-handlers.js';
import { sleep, waitUntil, wallMs } from '../lib/clock.js';
import { progress, withSession } from '../lib/harness.js';
import { median, round, summarizeLatency } from '../lib/stats.js';
import type { LaterzClient } from '../systems/laterz.js';
import type { Scenario } from './scenario.js';

const RATE_PER_SECOND = 1000;
const DELAY_MS = 2000;
const WORKERS = 2;
const WAITING = 100_000;
const HISTORY = 1_000_000;

/** The dispatcher probe's parameters: the default collection, the two bench funcs (served, not bulk). */
const PROBE_PARAMS = [['default'], [false], [BENCH_FUNCS.latency, BENCH_FUNCS.noop], [0, 0], [null, null], [false, false], 0, [5], [3], false, 60, 60, [true, true]];

/** The scheduler role's due scan, run in the bench process on its own timer (the bench app is ROLES=api). */
function dueScan(client: LaterzClient, pool: Pool): { scan: DueScanService; stop: () => void } {
  const config = client.get(AppConfig);
  const scan = new DueScanService(new DueGateway(new Db(pool)), client.get(Broker), client.get(FuncCatalog), config);
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void scan.runOnce().finally(() => (running = false));
  }, config.scheduler.dueScanIntervalMs);
  return { scan, stop: () => clearInterval(timer) };
}

/**
 * Open loop at RATE_PER_SECOND: each job is enqueued with runAfter = now + DELAY_MS and carries
 * that due time as t0; its handler reports the wall clock it started at, so `at - t0` is how late
 * it started (enqueue, due scan, publish, claim included).
 */
async function lateness(client: LaterzClient, samples: number[], first: number, count: number): Promise<void> {
  const interval = 1000 / RATE_PER_SECOND;
  const calls: Promise<void>[] = [];
  const expected = samples.length + count;
  const begin = wallMs();
  for (let k = 0; k < count; k++) {
    const wait = begin + k * interval - wallMs();
    if (wait >= 1) await sleep(wait);
    const due = wallMs() + DELAY_MS;
    calls.push(client.enqueueAt({ i: first + k, t0: due }, new Date(due)));
  }
  await Promise.all(calls);
  await waitUntil(async () => samples.length >= expected, `${count} scheduled jobs to start`, 60_000);
}

/** Median wall time of `n` calls of `f`, in ms. */
async function timed(n: number, f: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return median(times);
}

export const scheduled: Scenario = {
  name: 'scheduled',
  description: `${RATE_PER_SECOND} tasks/s due ${DELAY_MS / 1000} s after their enqueue: start lateness; due-scan and dispatcher-probe cost with ${WAITING} waiting scheduled tasks`,
  async run({ options, laterz }) {
    const seconds = options.quick ? 5 : 15;
    const runs: { p50: number; p99: number; max: number; jobs: number; scanMs: number; probeMs: number; dbP50: number; dbP99: number }[] = [];
    let plan = '';
    let probePlan = '';
    for (let run = 1; run <= options.runs; run++) {
      const r = await withSession(options, laterz, 'scheduled', WORKERS, async ({ client, workers, db }) => {
        const pool = new Pool({ connectionString: db.url, max: 2, options: `-c search_path=${client.get(AppConfig).dbSchema}` });
        const { scan, stop } = dueScan(client, pool);
        try {
          const samples: number[] = [];
          for (const w of workers) w.onStarted((t0, at) => samples.push(at - t0));
          await lateness(client, samples, 1, RATE_PER_SECOND); // warm-up
          samples.length = 0;
          await lateness(client, samples, RATE_PER_SECOND + 1, RATE_PER_SECOND * seconds);
          const s = summarizeLatency(samples);
          stop();
          // The database's side of it: date_started - run_after (due scan, publish and claim; no handler, no IPC, no bench clock).
          const { rows: dbSide } = await pool.query<{ p50: number; p99: number }>(
            `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
               FROM (SELECT extract(epoch FROM date_started - run_after) * 1000 AS ms FROM task
                      WHERE func = $1 AND date_started IS NOT NULL AND run_after IS NOT NULL AND (args->>'i')::int > $2) x`,
            [BENCH_FUNCS.latency, RATE_PER_SECOND],
          );
          // The tick cost: a table of HISTORY finished tasks and WAITING scheduled an hour ahead.
          await client.seedHistory(BENCH_FUNCS.noop, options.quick ? HISTORY / 10 : HISTORY);
          await pool.query(
            `INSERT INTO task (collection, func, args, args_hash, status, run_after, date_modified)
             SELECT 'default', $1, jsonb_build_object('w', g), sha256(('w' || g)::bytea), 'pending', now() + interval '1 hour', now() - interval '1 hour'
               FROM generate_series(1, $2::int) g`,
            [BENCH_FUNCS.latency, WAITING],
          );
          await pool.query('VACUUM (ANALYZE) task');
          const scanMs = await timed(20, () => scan.runOnce());
          const bulk: string[] = [];
          const probe = () => pool.query({ name: DISPATCH_PROBE.name, text: DISPATCH_PROBE.text }, PROBE_PARAMS);
          const probeMs = await timed(20, probe);
          const explain = await pool.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${QUEUE_DUE.text}`, [500, bulk]);
          plan = explain.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
          const probeExplain = await pool.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${DISPATCH_PROBE.text}`, PROBE_PARAMS);
          probePlan = probeExplain.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
          return { p50: s.p50, p99: s.p99, max: s.max, jobs: s.count, scanMs, probeMs, dbP50: Number(dbSide[0].p50), dbP99: Number(dbSide[0].p99) };
        } finally {
          stop();
          await pool.end();
        }
      });
      progress(`run ${run}: lateness p50 ${round(r.p50)} ms, p99 ${round(r.p99)} ms, max ${round(r.max)} ms (${r.jobs} jobs; in the database: p50 ${round(r.dbP50)} ms, p99 ${round(r.dbP99)} ms); due scan ${round(r.scanMs)} ms, dispatcher probe ${round(r.probeMs)} ms with ${WAITING} waiting`);
      runs.push(r);
    }
    const p50 = round(median(runs.map((r) => r.p50)));
    const p99 = round(median(runs.map((r) => r.p99)));
    return {
      metric: 'lateness-p50',
      value: p50,
      unit: 'ms',
      better: 'lower',
      runs: runs.map((r) => round(r.p50)),
      p50,
      p99,
      also: [
        { label: `due scan, ${WAITING} waiting`, metric: 'due-scan-ms', value: round(median(runs.map((r) => r.scanMs))), unit: 'ms', runs: runs.map((r) => round(r.scanMs)) },
        { label: 'lateness in the database (date_started - run_after), p50', metric: 'db-lateness-p50', value: round(median(runs.map((r) => r.dbP50))), unit: 'ms', runs: runs.map((r) => round(r.dbP50)) },
        { label: 'lateness in the database (date_started - run_after), p99', metric: 'db-lateness-p99', value: round(median(runs.map((r) => r.dbP99))), unit: 'ms', runs: runs.map((r) => round(r.dbP99)) },
        { label: `dispatcher probe, ${WAITING} waiting`, metric: 'probe-ms', value: round(median(runs.map((r) => r.probeMs))), unit: 'ms', runs: runs.map((r) => round(r.probeMs)) },
      ],
      params: {
        ratePerSecond: RATE_PER_SECOND,
        delayMs: DELAY_MS,
        seconds,
        workerProcesses: WORKERS,
        waiting: WAITING,
        history: options.quick ? HISTORY / 10 : HISTORY,
        laterz: laterz.settings,
        method:
          'open loop; each job enqueued with runAfter = now + delay and t0 = its due time; lateness = wall clock first thing in the handler - t0; the due scan runs in the bench process on its DUE_SCAN_INTERVAL_MS timer (as the scheduler role would); then the tick costs are medians of 20 calls on a table of finished history plus the waiting scheduled tasks (an hour ahead)',
      },
      details: { runs, plan, probePlan },
    };
  },
};
