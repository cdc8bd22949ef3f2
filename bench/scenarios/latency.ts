import { sleep, waitUntil, wallMs } from '../lib/clock.js';
import { interleave, progress, Session, withSession } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';
import { LatencySummary, median, round, summarizeLatency } from '../lib/stats.js';
import type { QueueSystem } from '../systems/system.js';
import type { Scenario } from './scenario.js';

const RATE_PER_SECOND = 200;
const WORKERS = 2;

/**
 * Enqueues at a fixed rate (open loop: a slow call does not delay the next) to idle workers.
 * Each job carries t0 = wallMs() taken just before its enqueue call; its handler, in a worker
 * process, takes wallMs() first thing and sends both to the bench over IPC. Both clocks are the
 * machine's wall clock (performance.timeOrigin + performance.now()), so the difference is the
 * enqueue→start latency, enqueue call, commit, wake-up, claim and dispatch included.
 */
export async function sendAtRate(session: Session, firstI: number, count: number, samples: number[]): Promise<void> {
  const interval = 1000 / RATE_PER_SECOND;
  const calls: Promise<void>[] = [];
  const expected = samples.length + count;
  const begin = wallMs();
  for (let k = 0; k < count; k++) {
    const wait = begin + k * interval - wallMs();
    if (wait >= 1) await sleep(wait);
    calls.push(session.client.enqueue('latency', { i: firstI + k, t0: wallMs() }));
  }
  await Promise.all(calls);
  await waitUntil(async () => samples.length >= expected, `${count} latency jobs to start`, 20_000);
}

async function measureLatency(options: BenchOptions, system: QueueSystem, seconds: number): Promise<LatencySummary> {
  return withSession(options, system, 'latency', WORKERS, async (session) => {
    const samples: number[] = [];
    for (const w of session.workers) w.onStarted((t0, at) => samples.push(at - t0));
    // Warm-up (connections, prepared statements, JIT), not recorded.
    await sendAtRate(session, 1, RATE_PER_SECOND, samples);
    samples.length = 0;
    await sendAtRate(session, RATE_PER_SECOND + 1, RATE_PER_SECOND * seconds, samples);
    return summarizeLatency(samples);
  });
}

export const latency: Scenario = {
  name: 'latency',
  description: `${RATE_PER_SECOND} enqueues/s to idle workers: enqueue→start latency`,
  async run({ options, laterz, peers }) {
    const seconds = options.quick ? 5 : 15;
    const systems = [laterz, ...peers('latency')];
    const summaries = await interleave(systems, options.runs, async (system, run) => {
      const s = await measureLatency(options, system, seconds);
      progress(`${system.name} run ${run}: p50 ${round(s.p50)} ms, p99 ${round(s.p99)} ms, max ${round(s.max)} ms (${s.count} jobs)`);
      return s;
    });
    const pick = (name: string) => {
      const list = summaries.get(name)!;
      return { p50: round(median(list.map((s) => s.p50))), p99: round(median(list.map((s) => s.p99))), runs: list };
    };
    const mine = pick(laterz.name);
    const peerNames = systems.slice(1).map((s) => s.name);
    return {
      metric: 'latency-p50',
      value: mine.p50,
      unit: 'ms',
      better: 'lower',
      runs: mine.runs.map((s) => round(s.p50)),
      p50: mine.p50,
      p99: mine.p99,
      params: {
        ratePerSecond: RATE_PER_SECOND,
        seconds,
        warmUpJobs: RATE_PER_SECOND,
        workerProcesses: WORKERS,
        laterz: laterz.settings,
        peers: Object.fromEntries(systems.slice(1).map((s) => [s.name, s.settings])),
        method:
          'open-loop sends at a fixed rate; t0 = wall clock just before the enqueue call (in the job), start = wall clock first thing in the handler (worker process, reported over IPC); p50/p99 are medians over runs of each run’s percentile',
      },
      peers: peerNames.length > 0 ? Object.fromEntries(peerNames.map((p) => [p, pick(p).p50])) : undefined,
      peerRuns: peerNames.length > 0 ? Object.fromEntries(peerNames.map((p) => [p, pick(p).runs.map((s) => round(s.p50))])) : undefined,
      peerLatency: peerNames.length > 0 ? Object.fromEntries(peerNames.map((p) => [p, { p50: pick(p).p50, p99: pick(p).p99 }])) : undefined,
      details: {
        runs: Object.fromEntries(systems.map((s) => [s.name, summaries.get(s.name)!.map((x) => ({ p50: round(x.p50), p99: round(x.p99), mean: round(x.mean), max: round(x.max), jobs: x.count }))])),
      },
    };
  },
};
