import { fileURLToPath } from 'node:url';
import type { WorkerSpec } from '../lib/workers.js';

const PEER_WORKER_SCRIPT = fileURLToPath(new URL('./peer-worker-main.js', import.meta.url));

/** Which peer a peer worker process runs, on which database, with which settings (JSON). */
export interface PeerWorkerEnv {
  BENCH_PEER: 'pg-boss' | 'graphile-worker' | 'amqplib' | 'amqp-floor';
  /** The database, or for amqplib the AMQP URL (amqp-floor: the database; its AMQP URL is in the tuning). */
  BENCH_PEER_URL: string;
  BENCH_PEER_TUNING: string;
}

export function peerWorkerSpecs(label: string, env: PeerWorkerEnv, count: number): WorkerSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    label: `${label}#${i + 1}`,
    script: PEER_WORKER_SCRIPT,
    env: { ...process.env, ...env },
  }));
}
