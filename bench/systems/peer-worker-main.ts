import { answerBenchRequests, tellBench } from '../lib/ipc.js';
import { startAmqpFloorWorker } from './amqp-floor.js';
import { startAmqplibWorker } from './amqplib.js';
import { GraphileTuning, startGraphileWorker } from './graphile-worker.js';
import type { PeerWorkerEnv } from './peer-worker.js';
import { PgBossTuning, startPgBossWorker } from './pg-boss.js';

// A peer's worker process forked by the bench (the peer's counterpart of bench/worker-main.ts).
const env = process.env as unknown as PeerWorkerEnv;
try {
  answerBenchRequests();
  const tuning: unknown = JSON.parse(env.BENCH_PEER_TUNING);
  const stop =
    env.BENCH_PEER === 'pg-boss'
      ? await startPgBossWorker(env.BENCH_PEER_URL, tuning as PgBossTuning)
      : env.BENCH_PEER === 'amqplib'
        ? await startAmqplibWorker(env.BENCH_PEER_URL, tuning as Parameters<typeof startAmqplibWorker>[1])
        : env.BENCH_PEER === 'amqp-floor'
          ? await startAmqpFloorWorker(env.BENCH_PEER_URL, tuning as Parameters<typeof startAmqpFloorWorker>[1])
          : await startGraphileWorker(env.BENCH_PEER_URL, tuning as GraphileTuning);
  process.once('SIGTERM', () => {
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`${env.BENCH_PEER} stop failed: ${err.message}`);
        process.exit(1);
      },
    );
  });
  tellBench({ type: 'ready' });
} catch (err) {
  console.error(`${env.BENCH_PEER} worker failed to start:`, err instanceof Error ? err.message : err);
  process.exit(1);
}
