import { BENCH_FUNCS } from '../bench-handlers.js';
import { wallMs, waitUntil } from '../lib/clock.js';
import { progress, withSession } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';
import { median, round } from '../lib/stats.js';
import type { EnqueueRequest } from '../../src/tasks/enqueue-request.js';
import type { Laterz, LaterzClient } from '../systems/laterz.js';
import { DRAIN_WORKERS, measureDrain } from './noop-drain.js';
import type { Scenario } from './scenario.js';

/** Diamonds written per enqueueMany round (three calls: roots, middles, tips). */
const CHUNK = 500;

/**
 * Writes `diamonds` diamonds a → (b, c) → d through enqueueMany, every task pending, while the
 * workers wait; then queues all the roots in one statement and hands them to the broker. The
 * clock runs from that commit until no task is unfinished; the engine queues each child when its
 * parents finish. Checks that every d holds 5 × i (results passed along both paths).
 */
async function measureDag(options: BenchOptions, laterz: Laterz, diamonds: number): Promise<number> {
  return withSession<LaterzClient, number>(options, laterz, 'dag', DRAIN_WORKERS, async ({ client }) => {
    for (let first = 1; first <= diamonds; first += CHUNK) {
      const ids = Array.from({ length: Math.min(CHUNK, diamonds - first + 1) }, (_, k) => first + k);
      const pending = (func: string, i: number, dependsOn?: EnqueueRequest['dependsOn']): EnqueueRequest => ({ func, args: { i }, dependsOn, queueNow: false });
      const roots = await client.tasks.enqueueMany(ids.map((i) => pending(BENCH_FUNCS.dagA, i)));
      const middles = await client.tasks.enqueueMany(
        ids.flatMap((i, k) => [pending(BENCH_FUNCS.dagB, i, { a: roots[k] }), pending(BENCH_FUNCS.dagC, i, { a: roots[k] })]),
      );
      await client.tasks.enqueueMany(ids.map((i, k) => pending(BENCH_FUNCS.dagD, i, { b: middles[2 * k], c: middles[2 * k + 1] })));
    }
    const total = diamonds * 4;
    const refs = await client.release(BENCH_FUNCS.dagA, { analyze: options.analyze });
    const visible = wallMs();
    await client.publish(refs);
    await waitUntil(async () => !(await client.busy()), `the DAG of ${total} tasks to finish`, 120_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; tasks by status: ${JSON.stringify(await client.statusCounts())}`, { cause: err });
    });
    const seconds = (wallMs() - visible) / 1000;
    const { rows } = await client.db.query<{ success: number; right: number }>(
      `SELECT count(*) FILTER (WHERE status = 'success')::int AS success,
              count(*) FILTER (WHERE func = $1 AND (result->>'n')::bigint = 5 * (args->>'i')::bigint)::int AS right
         FROM task WHERE func LIKE 'bench.dag.%'`,
      [BENCH_FUNCS.dagD],
    );
    if (rows[0].success !== total) throw new Error(`dag: ${rows[0].success} of ${total} tasks succeeded (${JSON.stringify(await client.statusCounts())})`);
    if (rows[0].right !== diamonds) throw new Error(`dag: only ${rows[0].right} of ${diamonds} tips got 5 × i from their parents`);
    return total / seconds;
  });
}

export const dag: Scenario = {
  name: 'dag',
  description: 'diamonds a → (b, c) → d with results passed along, vs laterz noop-drain in the same run',
  async run({ options, laterz }) {
    const diamonds = options.quick ? 1000 : 5000;
    const runs: number[] = [];
    const drains: number[] = [];
    for (let run = 1; run <= options.runs; run++) {
      // The baseline drains as many no-op tasks as the DAG has tasks, interleaved with it.
      drains.push(round(await measureDrain(options, laterz, diamonds * 4)));
      runs.push(round(await measureDag(options, laterz, diamonds)));
      progress(`run ${run}: dag ${runs.at(-1)} tasks/s, noop-drain ${drains.at(-1)} tasks/s`);
    }
    const value = median(runs);
    const drain = median(drains);
    const ratio = round(value / drain);
    return {
      metric: 'throughput',
      value,
      unit: 'tasks/s',
      better: 'higher',
      runs,
      params: {
        diamonds,
        tasks: diamonds * 4,
        workerProcesses: DRAIN_WORKERS,
        laterz: laterz.settings,
        analyze: options.analyze,
        method:
          'all tasks written pending through enqueueMany; roots queued in one statement and published; time from that commit until none is unfinished; baseline: noop-drain of as many tasks in the same run',
      },
      also: [{ label: 'laterz noop-drain (same run)', metric: 'throughput', value: drain, unit: 'tasks/s', runs: drains, note: `dag = ${ratio} × noop-drain` }],
      details: { noopDrain: drain, ratioToNoopDrain: ratio },
    };
  },
};
