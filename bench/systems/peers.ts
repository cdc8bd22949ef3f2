import type { BenchOptions } from '../lib/options.js';
import { AmqpFloorSystem } from './amqp-floor.js';
import { AmqplibSystem } from './amqplib.js';
import { GraphileWorkerSystem } from './graphile-worker.js';
import { PgBossSystem } from './pg-boss.js';
import type { QueueSystem } from './system.js';

/**
 * The peers at their best settings found on this 2-core machine for a 20,000-job drain with 2
 * worker processes (3 interleaved runs each; the machine is shared, so differences under ~20% are
 * noise): pg-boss batch 200/500/1000 with 1/2/4 loops per process all gave 19-24k/s, 500 × 2
 * among the best; graphile-worker concurrency 10/24/50/100 with local queue 500/1000 gave
 * 28-53k/s (50 with 1000 among the best), and without batched completion
 * (completeJobBatchDelay -1) only ~8k/s. For latency graphile-worker also runs without its local
 * queue, the setting the issue measured to give the better p99.
 *
 * On the AMQP transport, drain and latency compare with raw amqplib on the same broker instead
 * (DESIGN.md: laterz ÷ the raw baseline), and show the design's floor beside it (raw amqplib plus
 * the row writes no implementation can skip); enqueue writes the database on both transports, so
 * it keeps the PostgreSQL peers.
 */
export function peersFor(use: 'drain' | 'enqueue' | 'latency', options: Pick<BenchOptions, 'transport' | 'amqpUrl' | 'settings' | 'worker'>): QueueSystem[] {
  if (options.transport === 'amqp' && use !== 'enqueue') {
    const tuning = { prefetch: options.worker.batchSize };
    return [new AmqplibSystem(options.amqpUrl, tuning, options.settings), new AmqpFloorSystem(options.amqpUrl, tuning, options.settings)];
  }
  const pgBoss = new PgBossSystem({ batchSize: 500, localConcurrency: 2, poolSize: 10 });
  const graphile = new GraphileWorkerSystem({ concurrency: 50, localQueueSize: 1000, completeJobBatchDelay: 0, poolSize: 12 });
  if (use !== 'latency') return [pgBoss, graphile];
  return [
    pgBoss,
    graphile,
    new GraphileWorkerSystem({ concurrency: 50, localQueueSize: -1, completeJobBatchDelay: -1, poolSize: 12 }, 'graphile-worker/no-local-queue'),
  ];
}
