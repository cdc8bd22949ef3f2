import { wallMs } from './clock.js';

/** Worker process → bench. */
export type WorkerMessage =
  | { type: 'ready' }
  /** A latency task started: `t0` was taken just before its enqueue call, `at` when its handler began. */
  | { type: 'started'; t0: number; at: number }
  /** Raw amqplib workers: jobs of a kind acked since the last report (they have no database to count in). */
  | { type: 'finished'; kind: 'noop' | 'latency'; count: number }
  | { type: 'memory'; rss: number; heapUsed: number; heapTotal: number; external: number };

/** Bench → worker process. `gc`: collect garbage first (workers run with --expose-gc). */
export type BenchRequest = { type: 'memory'; gc: boolean };

/** In a worker process: tells the bench something (a no-op when not forked by it). */
export function tellBench(message: WorkerMessage): void {
  process.send?.(message);
}

/** Called first thing by a latency handler. */
export function reportStarted(t0: number): void {
  tellBench({ type: 'started', t0, at: wallMs() });
}

/**
 * In a worker process: answers the bench's requests, and stops as on SIGTERM once the bench is
 * gone (a bench that crashed must not leave workers consuming and holding connections, which
 * would skew every later run on the machine).
 */
export function answerBenchRequests(): void {
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.on('message', (request: BenchRequest) => {
    if (request.type === 'memory') {
      if (request.gc) globalThis.gc?.();
      const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
      tellBench({ type: 'memory', rss, heapUsed, heapTotal, external });
    }
  });
}
