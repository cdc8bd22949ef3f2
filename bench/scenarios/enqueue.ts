import { sleep, wallMs } from '../lib/clock.js';
import { interleave, progress, withSession } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';
import { median, round } from '../lib/stats.js';
import type { QueueSystem } from '../systems/system.js';
import type { Scenario } from './scenario.js';

const CALLERS = 50;
const WARM_UP_MS = 500;

/**
 * CALLERS concurrent callers in this process, each awaiting one single-job enqueue call after
 * another, no workers running. Calls completed after a warm-up, per second.
 */
async function measureEnqueue(options: BenchOptions, system: QueueSystem, durationMs: number): Promise<number> {
  return withSession(options, system, 'enqueue', 0, async ({ client }) => {
    let next = 0;
    let done = 0;
    let stop = false;
    const caller = async () => {
      while (!stop) {
        await client.enqueue('noop', { i: ++next });
        done++;
      }
    };
    const callers = Array.from({ length: CALLERS }, caller);
    await sleep(WARM_UP_MS);
    const [from, doneBefore] = [wallMs(), done];
    await sleep(durationMs);
    stop = true;
    await Promise.all(callers);
    const rate = (done - doneBefore) / ((wallMs() - from) / 1000);
    const rows = await client.count();
    if (rows !== done) throw new Error(`${system.name}: ${done} enqueue calls returned but ${rows} jobs exist`);
    return rate;
  });
}

export const enqueue: Scenario = {
  name: 'enqueue',
  description: `single enqueue calls from ${CALLERS} concurrent callers in one process`,
  async run({ options, laterz, peers }) {
    const durationMs = options.quick ? 2000 : 5000;
    const systems = [laterz, ...peers('enqueue')];
    const rates = await interleave(systems, options.runs, async (system, run) => {
      const rate = await measureEnqueue(options, system, durationMs);
      progress(`${system.name} run ${run}: ${round(rate)} calls/s`);
      return round(rate);
    });
    const runs = rates.get(laterz.name)!;
    const peerNames = systems.slice(1).map((s) => s.name);
    return {
      metric: 'enqueue-rate',
      value: median(runs),
      unit: 'calls/s',
      better: 'higher',
      runs,
      params: {
        callers: CALLERS,
        durationMs,
        warmUpMs: WARM_UP_MS,
        workers: 0,
        calls: { laterz: 'TasksService.enqueue', 'pg-boss': 'send', 'graphile-worker': 'WorkerUtils.addJob' },
        method: 'calls completed after the warm-up, per second; every call makes a new job (distinct args)',
      },
      peers: peerNames.length > 0 ? Object.fromEntries(peerNames.map((p) => [p, median(rates.get(p)!)])) : undefined,
      peerRuns: peerNames.length > 0 ? Object.fromEntries(peerNames.map((p) => [p, rates.get(p)!])) : undefined,
    };
  },
};
