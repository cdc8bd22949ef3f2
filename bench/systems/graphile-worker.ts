import { Logger, makeWorkerUtils, run, runMigrations } from 'graphile-worker';
import { Pool } from 'pg';
import { wallMs } from '../lib/clock.js';
import { reportStarted } from '../lib/ipc.js';
import type { WorkerSpec } from '../lib/workers.js';
import { peerWorkerSpecs } from './peer-worker.js';
import type { JobKind, JobPayload, QueueSystem, SystemClient } from './system.js';

export interface GraphileTuning {
  /** concurrentJobs of each worker process. */
  concurrency: number;
  /** Jobs each process locks and pulls down per fetch; -1 turns the local queue off. */
  localQueueSize: number;
  /** Milliseconds completions wait to be batched together; -1 completes each job on its own. */
  completeJobBatchDelay: number;
  poolSize: number;
}

/** Warnings and errors only. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`graphile-worker ${level}: ${message}`);
});

/** Seeds with one add_jobs call, as graphile-worker's own bulk API does. */
const ADD_NOOP_JOBS = `
  SELECT count(*) FROM graphile_worker.add_jobs(
    ARRAY(SELECT ROW('noop', json_build_object('i', g), NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
            FROM generate_series(1, $1::int) g))`;

/** graphile-worker 0.18: local queue (batched fetch), batched completion, LISTEN/NOTIFY. */
export class GraphileWorkerSystem implements QueueSystem {
  constructor(
    private readonly tuning: GraphileTuning,
    readonly name = 'graphile-worker',
  ) {}

  get settings(): Record<string, unknown> {
    return { ...this.tuning };
  }

  async install(url: string): Promise<void> {
    await runMigrations({ connectionString: url, logger });
  }

  workers(url: string, count: number): WorkerSpec[] {
    return peerWorkerSpecs(this.name, { BENCH_PEER: 'graphile-worker', BENCH_PEER_URL: url, BENCH_PEER_TUNING: JSON.stringify(this.tuning) }, count);
  }

  async open(url: string): Promise<SystemClient> {
    // graphile-worker completes jobs by deleting them: what succeeded is what was added and is gone.
    const added: Record<JobKind, number> = { noop: 0, latency: 0 };
    const pool = new Pool({ connectionString: url, max: 50, application_name: 'graphile-bench' });
    pool.on('error', (err) => console.error(`graphile-worker bench pool: ${err.message}`));
    pool.on('connect', (c) => c.on('error', (err) => console.error(`graphile-worker bench client: ${err.message}`)));
    const utils = await makeWorkerUtils({ pgPool: pool, logger });
    return {
      seedNoop: async (n, seed = {}) => {
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          await c.query(ADD_NOOP_JOBS, [n]);
          if (seed.analyze) await c.query('ANALYZE graphile_worker._private_jobs');
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          c.release();
        }
        added.noop += n;
        return wallMs();
      },
      enqueue: async (kind, payload) => {
        await utils.addJob(kind, { ...payload });
        added[kind]++;
      },
      busy: async () => (await pool.query<{ busy: boolean }>('SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS busy')).rows[0].busy,
      count: async () => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM graphile_worker._private_jobs')).rows[0].n,
      succeeded: async (kind) => {
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id WHERE t.identifier = $1`,
          [kind],
        );
        return added[kind] - rows[0].n;
      },
      close: async () => {
        await utils.release();
        await pool.end();
      },
    };
  }
}

/** In a peer worker process: runs both task types until the returned stop is called. */
export async function startGraphileWorker(url: string, tuning: GraphileTuning): Promise<() => Promise<void>> {
  const runner = await run({
    connectionString: url,
    concurrency: tuning.concurrency,
    noHandleSignals: true,
    logger,
    taskList: {
      noop: async () => undefined,
      latency: async (payload) => reportStarted((payload as JobPayload).t0!),
    },
    preset: {
      worker: {
        maxPoolSize: tuning.poolSize,
        localQueue: { size: tuning.localQueueSize },
        completeJobBatchDelay: tuning.completeJobBatchDelay,
      },
    },
  });
  return () => runner.stop();
}
