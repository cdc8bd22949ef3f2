import { BENCH_FUNCS } from '../bench-handlers.js';
import { wallMs, waitUntil } from '../lib/clock.js';
import { progress, withSession } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';
import { median, round } from '../lib/stats.js';
import type { WorkerProcess } from '../lib/workers.js';
import type { Laterz, LaterzClient } from '../systems/laterz.js';
import type { Scenario } from './scenario.js';

interface Sample {
  tasks: number;
  /** RSS as found, wherever the garbage collector happened to be. */
  rawRssMiB: number;
  /** RSS and heap right after a full collection: what the worker retains. */
  rssMiB: number;
  heapUsedMiB: number;
}

const MiB = 2 ** 20;

async function sample(tasks: number, worker: WorkerProcess): Promise<Sample> {
  const raw = await worker.memory(false);
  const collected = await worker.memory(true);
  return { tasks, rawRssMiB: round(raw.rss / MiB), rssMiB: round(collected.rss / MiB), heapUsedMiB: round(collected.heapUsed / MiB) };
}

/**
 * One worker process runs `last` no-op tasks, fed in chunks (the next chunk is written once the
 * previous one is done); after each chunk its memory is read over IPC (process.memoryUsage), as
 * found and again right after a full garbage collection. The growth compares the latter.
 */
async function measureMemory(options: BenchOptions, laterz: Laterz, checkpoints: [number, number]): Promise<{ samples: Sample[]; rate: number }> {
  const [first, last] = checkpoints;
  const chunk = first / 2;
  return withSession<LaterzClient, { samples: Sample[]; rate: number }>(options, laterz, 'memory', 1, async ({ client, workers }) => {
    const [worker] = workers;
    const samples = [await sample(0, worker)];
    let busyMs = 0;
    for (let done = 0; done < last; ) {
      const n = Math.min(chunk, last - done);
      const visible = await client.seed(BENCH_FUNCS.noop, done + 1, done + n, { analyze: options.analyze });
      await waitUntil(async () => !(await client.busy()), `the worker to run tasks ${done + 1}-${done + n}`, 60_000 + n);
      busyMs += wallMs() - visible;
      done += n;
      samples.push(await sample(done, worker));
      if (options.verbose) progress(`${done} tasks: ${JSON.stringify(samples.at(-1))}`);
    }
    const ok = await client.succeeded('noop');
    if (ok !== last) throw new Error(`memory: ${ok} of ${last} tasks succeeded`);
    return { samples, rate: last / (busyMs / 1000) };
  });
}

export const memory: Scenario = {
  name: 'memory',
  description: "one worker process's RSS after many no-op tasks vs after fewer",
  async run({ options, laterz }) {
    const checkpoints: [number, number] = options.quick ? [20_000, 100_000] : [200_000, 1_000_000];
    // A growth check over a million tasks, not a rate: one run unless --runs says otherwise.
    const runs = options.runsGiven ? options.runs : 1;
    const growths: number[] = [];
    const all: { samples: Sample[]; rate: number }[] = [];
    for (let run = 1; run <= runs; run++) {
      const result = await measureMemory(options, laterz, checkpoints);
      const at = (tasks: number) => result.samples.find((s) => s.tasks === tasks)!.rssMiB;
      growths.push(round(((at(checkpoints[1]) - at(checkpoints[0])) / at(checkpoints[0])) * 100));
      all.push(result);
      progress(`run ${run}: rss ${at(checkpoints[0])} MiB after ${checkpoints[0]}, ${at(checkpoints[1])} MiB after ${checkpoints[1]} (${growths.at(-1)}%), ${round(result.rate)} tasks/s`);
    }
    const at = (tasks: number, key: 'rssMiB' | 'heapUsedMiB') => round(median(all.map((r) => r.samples.find((s) => s.tasks === tasks)![key])));
    const rssAt = (tasks: number) => at(tasks, 'rssMiB');
    const heapAt = (tasks: number) => at(tasks, 'heapUsedMiB');
    // RSS swings by tens of MiB from one chunk to the next (freed pages not yet returned); a leak
    // shows as a heap that keeps growing and an RSS range that keeps rising.
    const later = all.flatMap((r) => r.samples.filter((s) => s.tasks > checkpoints[0]).map((s) => s.rssMiB));
    return {
      metric: 'rss-growth',
      value: median(growths),
      unit: '%',
      better: 'lower',
      runs: growths,
      params: {
        tasks: checkpoints[1],
        comparedWith: checkpoints[0],
        workerProcesses: 1,
        chunk: checkpoints[0] / 2,
        analyze: options.analyze,
        laterz: laterz.settings,
        method: 'RSS of the worker (process.memoryUsage over IPC) after each chunk, right after a full GC (global.gc, --expose-gc); growth = (rss at last - rss at first checkpoint) / rss at first checkpoint',
      },
      also: [
        { label: `laterz rss after ${checkpoints[0].toLocaleString('en-US')}`, metric: 'rss', value: rssAt(checkpoints[0]), unit: 'MiB' },
        { label: `laterz rss after ${checkpoints[1].toLocaleString('en-US')}`, metric: 'rss', value: rssAt(checkpoints[1]), unit: 'MiB' },
        {
          label: `laterz heap used after ${checkpoints[1].toLocaleString('en-US')}`,
          metric: 'heap-used',
          value: heapAt(checkpoints[1]),
          unit: 'MiB',
          note: `${heapAt(checkpoints[0])} MiB after ${checkpoints[0].toLocaleString('en-US')}`,
        },
        { label: `laterz rss range after ${checkpoints[0].toLocaleString('en-US')}`, metric: 'rss-max', value: Math.max(...later), unit: 'MiB', note: `min ${Math.min(...later)} MiB` },
        { label: 'laterz, 1 worker process', metric: 'throughput', value: round(median(all.map((r) => r.rate))), unit: 'tasks/s' },
      ],
      details: { samples: all.map((r) => r.samples) },
    };
  },
};
