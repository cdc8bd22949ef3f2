import { PgBoss } from 'pg-boss';
import { Pool } from 'pg';
import { wallMs } from '../lib/clock.js';
import { reportStarted } from '../lib/ipc.js';
import type { WorkerSpec } from '../lib/workers.js';
import { peerWorkerSpecs } from './peer-worker.js';
import type { JobKind, JobPayload, QueueSystem, SystemClient } from './system.js';

export interface PgBossTuning {
  /** Jobs fetched (and completed) per round trip by each worker loop. */
  batchSize: number;
  /** Worker loops per process (what older pg-boss called teamSize). */
  localConcurrency: number;
  /** Pool of each worker process. */
  poolSize: number;
}

const KINDS: JobKind[] = ['noop', 'latency'];
/** No maintenance or cron timers in a bench process: they would only add noise. */
const QUIET = { supervise: false, schedule: false } as const;

/**
 * pg-boss 12 at its best for these jobs: batched fetch and completion, LISTEN/NOTIFY on, burst
 * fetching while batches come back full, no retries.
 */
export class PgBossSystem implements QueueSystem {
  readonly name = 'pg-boss';

  constructor(private readonly tuning: PgBossTuning) {}

  get settings(): Record<string, unknown> {
    return { ...this.tuning, useListenNotify: true, burstWhenBatchFull: true };
  }

  async install(url: string): Promise<void> {
    const boss = new PgBoss({ connectionString: url, max: 2, ...QUIET });
    boss.on('error', (err) => console.error(`pg-boss: ${err.message}`));
    await boss.start();
    try {
      for (const kind of KINDS) await boss.createQueue(kind, { notify: true, retryLimit: 0 });
    } finally {
      await boss.stop({ graceful: false, close: true });
    }
  }

  workers(url: string, count: number): WorkerSpec[] {
    return peerWorkerSpecs(this.name, { BENCH_PEER: 'pg-boss', BENCH_PEER_URL: url, BENCH_PEER_TUNING: JSON.stringify(this.tuning) }, count);
  }

  async open(url: string): Promise<SystemClient> {
    // One connection per concurrent caller: pg-boss's send() is one statement and one commit.
    const boss = new PgBoss({ connectionString: url, max: 50, migrate: false, ...QUIET });
    boss.on('error', (err) => console.error(`pg-boss: ${err.message}`));
    await boss.start();
    const db = new Pool({ connectionString: url, max: 2, application_name: 'pg-boss-bench' });
    db.on('error', (err) => console.error(`pg-boss bench pool: ${err.message}`));
    return {
      seedNoop: async (n, seed = {}) => {
        await boss.insert('noop', Array.from({ length: n }, (_, i) => ({ data: { i: i + 1 } })));
        const visible = wallMs();
        // insert() runs its own statement: the closest the bench gets is right after it.
        if (seed.analyze) await db.query('ANALYZE pgboss.job');
        return visible;
      },
      enqueue: async (kind: JobKind, payload: JobPayload) => {
        await boss.send(kind, { ...payload });
      },
      busy: async () => (await db.query<{ busy: boolean }>(`SELECT EXISTS (SELECT 1 FROM pgboss.job WHERE state < 'completed') AS busy`)).rows[0].busy,
      count: async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pgboss.job')).rows[0].n,
      succeeded: async (kind) =>
        (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'`, [kind])).rows[0].n,
      close: async () => {
        await boss.stop({ graceful: false, close: true });
        await db.end();
      },
    };
  }
}

/** In a peer worker process: works both queues until the returned stop is called. */
export async function startPgBossWorker(url: string, tuning: PgBossTuning): Promise<() => Promise<void>> {
  const boss = new PgBoss({ connectionString: url, max: tuning.poolSize, migrate: false, useListenNotify: true, ...QUIET });
  boss.on('error', (err) => console.error(`pg-boss: ${err.message}`));
  await boss.start();
  const options = {
    batchSize: tuning.batchSize,
    localConcurrency: tuning.localConcurrency,
    pollingIntervalSeconds: 0.5,
    burstWhenBatchFull: true,
  };
  await boss.work<JobPayload>('noop', options, async () => undefined);
  await boss.work<JobPayload>('latency', options, async (jobs) => {
    for (const job of jobs) reportStarted(job.data.t0!);
  });
  return () => boss.stop({ graceful: true, close: true, timeout: 5000 });
}
