import type { QueueSystem, SystemClient } from '../systems/system.js';
import { BenchDatabase, withDatabase } from './databases.js';
import type { BenchOptions } from './options.js';
import { untilQuiet } from './quiet.js';
import { startWorkers, stopWorkers, WorkerProcess } from './workers.js';

/** What one measurement gets: its own database with the system installed, workers, a client. */
export interface Session<C extends SystemClient = SystemClient> {
  db: BenchDatabase;
  client: C;
  workers: WorkerProcess[];
}

/** Progress lines go to stderr so that stdout holds only the table. */
export function progress(message: string): void {
  console.error(`  ${message}`);
}

/**
 * Runs `measure` on a fresh database with `system` installed, `workerCount` worker processes
 * running and idle, a client open and the machine quiet; tears everything down (database
 * included) afterwards.
 */
export async function withSession<C extends SystemClient, T>(
  options: BenchOptions,
  system: QueueSystem<C>,
  label: string,
  workerCount: number,
  measure: (session: Session<C>) => Promise<T>,
): Promise<T> {
  return withDatabase(options, `${label}_${system.name}`, async (db) => {
    await system.install(db.url);
    const client = await system.open(db.url);
    let workers: WorkerProcess[] = [];
    try {
      workers = await startWorkers(system.workers(db.url, workerCount), options.verbose);
      system.observe?.(client, workers);
      const settled = await untilQuiet();
      if (!settled.quiet) progress(`machine still ${Math.round(settled.busy * 100)}% busy after ${settled.waitedMs / 1000} s; measuring anyway`);
      // A worker that dies mid-measurement fails it at once instead of at the drain's timeout.
      return await Promise.race([measure({ db, client, workers }), ...workers.map((w) => w.died)]);
    } catch (err) {
      const tails = workers.map((w) => w.tail()).filter((t) => t !== '');
      if (tails.length > 0 && err instanceof Error) err.message += `\n  last worker output:\n${tails.join('\n')}`;
      throw err;
    } finally {
      await stopWorkers(workers);
      await client.close().catch((err: Error) => console.error(`closing the ${system.name} client: ${err.message}`));
      await system.dispose?.(db.url).catch((err: Error) => console.error(`cleaning up after ${system.name}: ${err.message}`));
    }
  });
}

/**
 * `runs` rounds of one measurement per system, interleaved (laterz, peer, peer, laterz, …) so a
 * noisy stretch of the shared machine hits every system alike. Returns the values per system name.
 */
export async function interleave<T>(
  systems: readonly QueueSystem[],
  runs: number,
  measure: (system: QueueSystem, run: number) => Promise<T>,
): Promise<Map<string, T[]>> {
  const results = new Map<string, T[]>(systems.map((s) => [s.name, []]));
  for (let run = 1; run <= runs; run++) {
    for (const system of systems) results.get(system.name)!.push(await measure(system, run));
  }
  return results;
}
