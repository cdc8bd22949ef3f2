import { wallMs, waitUntil } from '../lib/clock.js';
import { interleave, progress, withSession } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';
import type { AlsoMeasured } from '../lib/report.js';
import { median, round } from '../lib/stats.js';
import type { Laterz, LaterzClient } from '../systems/laterz.js';
import type { QueueSystem, SystemClient } from '../systems/system.js';
import type { Scenario } from './scenario.js';

export const DRAIN_WORKERS = 2;
const HISTORY_ROWS = 1_000_000;
/** History of another func, so that counts of bench.noop stay the drain's own; the indexes hold both alike. */
const HISTORY_FUNC = 'bench.history';

export function drainSize(options: BenchOptions): number {
  return options.quick ? 10_000 : 20_000;
}

/**
 * One drain: `n` no-op jobs written in one transaction while `DRAIN_WORKERS` worker processes
 * wait idle; the clock runs from that commit until no job is unfinished (polled every 10 ms).
 * Worker start-up is left out: it is a one-off cost, and at these sizes it would outweigh the work.
 */
export async function measureDrain<C extends SystemClient>(
  options: BenchOptions,
  system: QueueSystem<C>,
  n: number,
  prepare?: (client: C) => Promise<void>,
): Promise<number> {
  return withSession(options, system, 'drain', DRAIN_WORKERS, async ({ client }) => {
    await prepare?.(client);
    const visible = await client.seedNoop(n, { analyze: options.analyze });
    await waitUntil(async () => !(await client.busy()), `${system.name} to drain ${n} jobs`, 60_000 + n);
    const seconds = (wallMs() - visible) / 1000;
    const ok = await client.succeeded('noop');
    if (ok !== n) throw new Error(`${system.name}: ${ok} of ${n} no-op jobs succeeded`);
    return n / seconds;
  });
}

/** The drain on a table already holding HISTORY_ROWS finished tasks (laterz only: tasks are history, never deleted). */
async function drainOnHistory(options: BenchOptions, laterz: Laterz, n: number, fresh: number): Promise<AlsoMeasured> {
  const runs: number[] = [];
  for (let run = 1; run <= options.runs; run++) {
    const rate = await measureDrain<LaterzClient>(options, laterz, n, (c) => c.seedHistory(HISTORY_FUNC, HISTORY_ROWS));
    progress(`noop-drain on ${HISTORY_ROWS.toLocaleString('en-US')} finished tasks, run ${run}: ${round(rate)} tasks/s`);
    runs.push(round(rate));
  }
  const value = median(runs);
  return {
    label: `laterz, ${HISTORY_ROWS / 1e6}M finished rows`,
    metric: 'throughput',
    value,
    unit: 'tasks/s',
    runs,
    note: `${round(value / fresh)} × fresh table`,
  };
}

export const noopDrain: Scenario = {
  name: 'noop-drain',
  description: 'pre-enqueued no-op tasks drained by 2 worker processes',
  async run({ options, laterz, peers }) {
    const n = drainSize(options);
    const systems = [laterz, ...peers('drain')];
    const rates = await interleave(systems, options.runs, async (system, run) => {
      const rate = await measureDrain(options, system, n);
      progress(`${system.name} run ${run}: ${round(rate)} tasks/s`);
      return round(rate);
    });
    const laterzRuns = rates.get(laterz.name)!;
    const value = median(laterzRuns);
    const peerNames = systems.slice(1).map((s) => s.name);
    return {
      metric: 'throughput',
      value,
      unit: 'tasks/s',
      better: 'higher',
      runs: laterzRuns,
      params: {
        tasks: n,
        workerProcesses: DRAIN_WORKERS,
        laterz: laterz.settings,
        peers: Object.fromEntries(systems.slice(1).map((s) => [s.name, s.settings])),
        history: options.history ? HISTORY_ROWS : 0,
        analyze: options.analyze,
        method: 'jobs written in one transaction while the workers wait idle; time from that commit until none is unfinished (10 ms polls)',
      },
      peers: peerNames.length > 0 ? Object.fromEntries(peerNames.map((p) => [p, median(rates.get(p)!)])) : undefined,
      peerRuns: peerNames.length > 0 ? Object.fromEntries(peerNames.map((p) => [p, rates.get(p)!])) : undefined,
      also: options.history ? [await drainOnHistory(options, laterz, n, value)] : undefined,
    };
  },
};
