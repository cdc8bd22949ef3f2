import { readdirSync, readFileSync } from 'node:fs';
import { BENCH_FUNCS } from '../bench-handlers.js';
import { wallMs, waitUntil } from '../lib/clock.js';
import { progress, withSession } from '../lib/harness.js';
import type { BenchOptions, IsolationMode } from '../lib/options.js';
import type { AlsoMeasured } from '../lib/report.js';
import { round } from '../lib/stats.js';
import type { WorkerProcess } from '../lib/workers.js';
import type { Laterz, LaterzClient } from '../systems/laterz.js';
import { laterzIn } from './isolation.js';
import type { Scenario } from './scenario.js';

const MiB = 2 ** 20;

/** Child processes of `pid` (Linux: /proc/<pid>/task/<tid>/children of each of its threads). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (child) found.push(Number(child));
    }
  } catch {
    // It has gone (or a thread ended between the two reads): what was found so far.
  }
  return found;
}

/** Resident memory of a process, bytes (0 when it has gone meanwhile). */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Sample {
  tasks: number;
  /** The worker's RSS right after a full collection of its main heap (a thread isolate's memory is in it). */
  workerMiB: number;
  /** Its child-process isolates' RSS, summed (process mode). */
  childrenMiB: number;
  children: number;
  totalMiB: number;
}

async function sample(tasks: number, worker: WorkerProcess): Promise<Sample> {
  const collected = await worker.memory(true);
  const kids = childrenOf(worker.pid);
  const childrenBytes = kids.reduce((sum, pid) => sum + rssOf(pid), 0);
  return {
    tasks,
    workerMiB: round(collected.rss / MiB),
    childrenMiB: round(childrenBytes / MiB),
    children: kids.length,
    totalMiB: round((collected.rss + childrenBytes) / MiB),
  };
}

/** One worker process in `mode` runs `last` no-op tasks in chunks of first/2; its memory (and its isolates') after each chunk. */
async function soak(options: BenchOptions, system: Laterz, first: number, last: number, mode: IsolationMode): Promise<{ samples: Sample[]; rate: number }> {
  const chunk = first / 2;
  return withSession<LaterzClient, { samples: Sample[]; rate: number }>(options, system, `isomem_${mode}`, 1, async ({ client, workers }) => {
    const [worker] = workers;
    const samples = [await sample(0, worker)];
    let busyMs = 0;
    for (let done = 0; done < last; ) {
      const n = Math.min(chunk, last - done);
      const visible = await client.seed(BENCH_FUNCS.noop, done + 1, done + n, { analyze: options.analyze });
      await waitUntil(async () => !(await client.busy()), `the ${mode} worker to run tasks ${done + 1}-${done + n}`, 120_000 + 50 * n);
      busyMs += wallMs() - visible;
      done += n;
      samples.push(await sample(done, worker));
      if (options.verbose || done % first === 0) progress(`${mode}: ${done.toLocaleString('en-US')} tasks, ${round(done / (busyMs / 1000))} tasks/s: ${JSON.stringify(samples.at(-1))}`);
    }
    const ok = await client.succeeded('noop');
    if (ok !== last) throw new Error(`isolation-memory (${mode}): ${ok} of ${last} tasks succeeded`);
    return { samples, rate: last / (busyMs / 1000) };
  });
}

/**
 * Issue 17's memory goal: in each execution mode, a worker's memory (its RSS, plus its child
 * isolates' own) after N tasks within 10% of after N/5.
 */
export const isolationMemory: Scenario = {
  name: 'isolation-memory',
  description: "one worker's memory (RSS plus its isolates') after many no-op tasks vs after a fifth as many, in each execution mode",
  async run({ options, laterz }) {
    const last = options.soakTasks ?? (options.quick ? 100_000 : 1_000_000);
    const first = Math.round(last / 5);
    const modes = options.isolationModes;
    const growth = new Map<IsolationMode, number>();
    const results = new Map<IsolationMode, { samples: Sample[]; rate: number }>();
    for (const mode of modes) {
      const result = await soak(options, laterzIn(laterz, mode, options), first, last, mode);
      const at = (tasks: number) => result.samples.find((s) => s.tasks === tasks)!.totalMiB;
      growth.set(mode, round(((at(last) - at(first)) / at(first)) * 100));
      results.set(mode, result);
      progress(`${mode}: ${at(first)} MiB after ${first.toLocaleString('en-US')}, ${at(last)} MiB after ${last.toLocaleString('en-US')} (${growth.get(mode)}%), ${round(result.rate)} tasks/s`);
    }
    const also: AlsoMeasured[] = modes.map((mode) => {
      const s = results.get(mode)!.samples;
      const at = (tasks: number) => s.find((x) => x.tasks === tasks)!;
      const later = s.filter((x) => x.tasks > first).map((x) => x.totalMiB);
      return {
        label: `${mode}: memory after ${last.toLocaleString('en-US')}`,
        metric: 'rss',
        value: at(last).totalMiB,
        unit: 'MiB',
        note: `${growth.get(mode)}% vs ${at(first).totalMiB} after ${first.toLocaleString('en-US')} (goal ≤ 10%); worker ${at(last).workerMiB} + ${at(last).children} children ${at(last).childrenMiB}; range after ${Math.min(...later)}–${Math.max(...later)}; ${round(results.get(mode)!.rate)} tasks/s`,
      };
    });
    const worst = Math.max(...growth.values());
    return {
      metric: 'rss-growth-worst-mode',
      value: worst,
      unit: '%',
      better: 'lower',
      runs: modes.map((m) => growth.get(m)!),
      params: {
        tasks: last,
        comparedWith: first,
        chunk: first / 2,
        modes,
        workerProcesses: 1,
        inline: laterzIn(laterz, 'inline', options).settings,
        isolated: laterzIn(laterz, 'thread', options).settings,
        method:
          "after each chunk: the worker's RSS right after a full GC of its main heap (process.memoryUsage over IPC; thread isolates live in it) plus the RSS of its child processes (/proc/<pid>/task/<pid>/children, VmRSS); growth = (total at N - total at N/5) / total at N/5",
      },
      also,
      details: { growth: Object.fromEntries(growth), samples: Object.fromEntries([...results].map(([m, r]) => [m, r.samples])) },
    };
  },
};
