import type { PoolClient } from 'pg';
import { wallMs, waitUntil } from '../lib/clock.js';
import { interleave, progress, withSession } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';
import type { AlsoMeasured } from '../lib/report.js';
import { median, round } from '../lib/stats.js';
import { BENCH_FUNCS } from '../bench-handlers.js';
import type { Laterz, LaterzClient } from '../systems/laterz.js';
import type { QueueSystem, SystemClient } from '../systems/system.js';
import type { Scenario } from './scenario.js';

export const DRAIN_WORKERS = 2;
const HISTORY_ROWS = 1_000_000;
/** History of another func, so that counts of bench.noop stay the drain's own; the indexes hold both alike. */
const HISTORY_FUNC = 'bench.history';
/** The floor: rows per statement and connections (the "raw batched claim+complete of 100 rows"). */
const FLOOR_BATCH = 100;
const FLOOR_CONNECTIONS = DRAIN_WORKERS;

/**
 * The task table's own floor: a task's two state changes as bare UPDATEs (queued -> started with
 * attempt + 1, started -> success), each autocommitted, with no engine around them: no advisory
 * lock, no parents, no log, no attempt rows, no broker. What the schema costs, whatever the code does.
 */
const FLOOR_CLAIM = {
  name: 'bench_floor_claim',
  text: `
    WITH c AS (SELECT id FROM task WHERE status = 'queued' ORDER BY priority DESC, id LIMIT $1 FOR UPDATE SKIP LOCKED)
    UPDATE task t SET status = 'started', attempt = t.attempt + 1, date_started = now(), date_modified = now(), worker = 'floor'
      FROM c WHERE t.id = c.id
    RETURNING t.id::text AS id`,
};
const FLOOR_FINISH = {
  name: 'bench_floor_finish',
  text: `
    UPDATE task SET status = 'success', result = 'null', date_finished = now(), date_modified = now()
     WHERE id = ANY($1::bigint[]) AND status = 'started'`,
};

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

/** One floor run: `n` queued rows, FLOOR_CONNECTIONS loops of claim + finish until none is left. */
async function measureFloor(options: BenchOptions, laterz: Laterz, n: number): Promise<number> {
  return withSession<LaterzClient, number>(options, laterz, 'floor', 0, async ({ client }) => {
    await client.insert(BENCH_FUNCS.noop, 1, n, 'queued', { analyze: options.analyze });
    const connections: PoolClient[] = await Promise.all(Array.from({ length: FLOOR_CONNECTIONS }, () => client.db.connect()));
    try {
      const start = wallMs();
      await Promise.all(
        connections.map(async (c) => {
          for (;;) {
            const { rows } = await c.query<{ id: string }>({ ...FLOOR_CLAIM, values: [FLOOR_BATCH] });
            if (rows.length === 0) return;
            await c.query({ ...FLOOR_FINISH, values: [rows.map((r) => r.id)] });
          }
        }),
      );
      const seconds = (wallMs() - start) / 1000;
      const ok = await client.succeeded('noop');
      if (ok !== n) throw new Error(`floor: ${ok} of ${n} rows ended success`);
      return n / seconds;
    } finally {
      for (const c of connections) c.release();
    }
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
    // Beside the PostgreSQL peers: what no code on this schema can beat, in the same run.
    const withFloor = options.transport === 'postgres' && systems.length > 1;
    const floorRuns: number[] = [];
    const rates = await interleave(systems, options.runs, async (system, run) => {
      const rate = await measureDrain(options, system, n);
      progress(`${system.name} run ${run}: ${round(rate)} tasks/s`);
      if (system === laterz && withFloor) {
        floorRuns.push(round(await measureFloor(options, laterz, n)));
        progress(`task-table floor run ${run}: ${floorRuns[floorRuns.length - 1]} rows/s`);
      }
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
      also: alsoMeasured(floorRuns, value, peerNames.length > 0 ? Math.max(...peerNames.map((p) => median(rates.get(p)!))) : 0, options.history ? await drainOnHistory(options, laterz, n, value) : undefined),
    };
  },
};

function alsoMeasured(floorRuns: number[], laterzRate: number, fastestPeer: number, history?: AlsoMeasured): AlsoMeasured[] | undefined {
  const list: AlsoMeasured[] = [];
  if (floorRuns.length > 0) {
    const floor = median(floorRuns);
    list.push({
      label: `task-table floor (bare UPDATEs)`,
      metric: 'throughput',
      value: floor,
      unit: 'rows/s',
      runs: floorRuns,
      note: `${round(floor / fastestPeer)} × the faster peer; laterz at ${round(laterzRate / floor)} × floor`,
    });
  }
  if (history) list.push(history);
  return list.length > 0 ? list : undefined;
}
