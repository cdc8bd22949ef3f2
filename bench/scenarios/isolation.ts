import { fileURLToPath } from 'node:url';
import { BENCH_FUNCS } from '../bench-handlers.js';
import { waitUntil } from '../lib/clock.js';
import { progress, withSession } from '../lib/harness.js';
import { listenForStarts, REPORT_PORT_VARIABLE } from '../lib/ipc.js';
import type { BenchOptions, IsolationMode } from '../lib/options.js';
import type { AlsoMeasured } from '../lib/report.js';
import { LatencySummary, median, round, summarizeLatency } from '../lib/stats.js';
import type { Laterz, LaterzClient } from '../systems/laterz.js';
import { drainSize, measureDrain } from './noop-drain.js';
import { sendAtRate } from './latency.js';
import type { Scenario } from './scenario.js';

/** The compiled handlers file an isolate boots (the same funcs the worker registers). */
export const BENCH_HANDLERS_FILE = fileURLToPath(new URL('../bench-handlers.js', import.meta.url));
const LATENCY_RATE = 200;
const LATENCY_WORKERS = 2;

/**
 * laterz whose workers run every handler in `mode`: inline with the bench's worker tuning; thread
 * and process with the same tuning, ISOLATE_POOL_SIZE = --isolates (claimed tasks wait for a free
 * isolate, so claims stay as large as inline's) and the bench's handlers file for the isolates to boot.
 */
export function laterzIn(laterz: Laterz, mode: IsolationMode, options: BenchOptions, extra: Record<string, string> = {}): Laterz {
  if (mode === 'inline') return laterz.withWorkerEnv({ WORKER_ISOLATION: 'inline', ...extra });
  return laterz.withWorkerEnv({ WORKER_ISOLATION: mode, LATERZ_HANDLERS: BENCH_HANDLERS_FILE, ISOLATE_POOL_SIZE: String(options.isolates), ...extra });
}

/**
 * Before the clock: enough tasks of another func that every worker slot runs some, so each worker
 * has started its full pool of isolates (an isolate boots the handlers' Nest modules: a second or
 * more of CPU here, once per isolate, which the pool then reuses). Inline: the same warm-up.
 */
async function warmUp(client: LaterzClient, options: BenchOptions): Promise<void> {
  const tasks = Math.max(2000, options.isolates * 40);
  await client.seed(BENCH_FUNCS.dagA, 1, tasks);
  await waitUntil(async () => !(await client.busy()), `the warm-up of ${tasks} tasks`, 120_000);
}

/** The latency scenario's open loop, with the handlers' start reports coming over UDP (an isolate has no IPC channel to the bench). */
async function measureLatency(options: BenchOptions, system: Laterz, seconds: number): Promise<LatencySummary> {
  const samples: number[] = [];
  const listener = await listenForStarts((t0, at) => samples.push(at - t0));
  try {
    const reporting = system.withWorkerEnv({ [REPORT_PORT_VARIABLE]: String(listener.port) });
    return await withSession(options, reporting, 'isolation_latency', LATENCY_WORKERS, async (session) => {
      await warmUp(session.client, options);
      await sendAtRate(session, 1, LATENCY_RATE, samples);
      samples.length = 0;
      await sendAtRate(session, LATENCY_RATE + 1, LATENCY_RATE * seconds, samples);
      return summarizeLatency(samples);
    });
  } finally {
    listener.close();
  }
}

interface ModeRuns {
  drain: number[];
  latency: LatencySummary[];
}

/**
 * noop-drain and latency with every handler inline, in pooled worker threads, and in pooled child
 * processes, interleaved (inline, thread, process, inline, …) so that a noisy stretch of the
 * shared machine hits every mode alike; each isolated figure also as a ratio to inline's.
 */
export const isolation: Scenario = {
  name: 'isolation',
  description: 'noop-drain and latency in each execution mode (inline, thread, process), with ratios to inline',
  async run({ options, laterz }) {
    // Smaller than noop-drain's: a child-process drain runs at tens of tasks/s on this shared machine, and a drain must end within 60 s + 1 ms per task.
    const n = Math.round(drainSize(options) / 5);
    const seconds = options.quick ? 5 : 15;
    const modes = options.isolationModes;
    const runs = new Map<IsolationMode, ModeRuns>(modes.map((m) => [m, { drain: [], latency: [] }]));
    for (let run = 1; run <= options.runs; run++) {
      for (const mode of modes) {
        const system = laterzIn(laterz, mode, options);
        const rate = round(await measureDrain(options, system, n, (client) => warmUp(client, options)));
        runs.get(mode)!.drain.push(rate);
        const lat = await measureLatency(options, system, seconds);
        runs.get(mode)!.latency.push(lat);
        progress(`${mode} run ${run}: noop-drain ${rate} tasks/s; latency p50 ${round(lat.p50)} ms, p99 ${round(lat.p99)} ms (${lat.count} jobs)`);
      }
    }
    const drainOf = (m: IsolationMode) => median(runs.get(m)!.drain);
    const p50Of = (m: IsolationMode) => round(median(runs.get(m)!.latency.map((s) => s.p50)));
    const p99Of = (m: IsolationMode) => round(median(runs.get(m)!.latency.map((s) => s.p99)));
    const base = modes.includes('inline') ? 'inline' : modes[0];
    const goals: Record<IsolationMode, number | undefined> = { inline: undefined, thread: 0.7, process: 0.4 };
    const also: AlsoMeasured[] = [];
    for (const m of modes) {
      const ratio = round(drainOf(m) / drainOf(base));
      also.push({
        label: `noop-drain, ${m}`,
        metric: 'throughput',
        value: drainOf(m),
        unit: 'tasks/s',
        runs: runs.get(m)!.drain,
        note: m === base ? 'reference' : `${ratio} × ${base}${goals[m] ? ` (goal ≥ ${goals[m]})` : ''}`,
      });
    }
    for (const m of modes) {
      also.push({
        label: `latency p50, ${m}`,
        metric: 'latency-p50',
        value: p50Of(m),
        unit: 'ms',
        runs: runs.get(m)!.latency.map((s) => round(s.p50)),
        note: `p99 ${p99Of(m)} ms${m === base ? '' : `; p50 ${round(p50Of(m) / p50Of(base))} × ${base}`}`,
      });
    }
    const headline: IsolationMode = modes.includes('thread') ? 'thread' : modes[modes.length - 1];
    return {
      metric: `throughput-ratio-${headline}`,
      value: round(drainOf(headline) / drainOf(base)),
      unit: `× ${base}`,
      better: 'higher',
      runs: runs.get(headline)!.drain.map((r, i) => round(r / runs.get(base)!.drain[i])),
      params: {
        tasks: n,
        drainWorkerProcesses: 2,
        latency: { ratePerSecond: LATENCY_RATE, seconds, workerProcesses: LATENCY_WORKERS },
        modes,
        inline: laterzIn(laterz, 'inline', options).settings,
        isolated: laterzIn(laterz, 'thread', options).settings,
        method:
          'noop-drain and latency as their own scenarios, each after a warm-up (max(2,000, 40 × isolates) tasks of another func, so every pool is full), once per mode per run, modes interleaved; isolated modes: WORKER_ISOLATION=thread|process, LATERZ_HANDLERS = the bench handlers file, ISOLATE_POOL_SIZE = --isolates (concurrency and batch as inline); latency starts reported over UDP from wherever the handler runs',
      },
      also,
      details: {
        ratios: Object.fromEntries(modes.map((m) => [m, { drain: round(drainOf(m) / drainOf(base)), latencyP50: round(p50Of(m) / p50Of(base)), latencyP99: round(p99Of(m) / p99Of(base)) }])),
        runs: Object.fromEntries(modes.map((m) => [m, { drain: runs.get(m)!.drain, latency: runs.get(m)!.latency.map((s) => ({ p50: round(s.p50), p99: round(s.p99), max: round(s.max), jobs: s.count })) }])),
      },
    };
  },
};
