import { createSocket, Socket } from 'node:dgram';
import { wallMs } from './clock.js';

/**
 * Set by the isolation bench: latency handlers report over UDP to this port on 127.0.0.1, since a
 * handler in a worker thread or a child process of the worker has no IPC channel to the bench.
 */
export const REPORT_PORT_VARIABLE = 'BENCH_REPORT_UDP_PORT';
let reportSocket: Socket | undefined;

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
  const at = wallMs();
  const port = process.env[REPORT_PORT_VARIABLE];
  if (port === undefined) {
    tellBench({ type: 'started', t0, at });
    return;
  }
  if (!reportSocket) {
    reportSocket = createSocket('udp4');
    reportSocket.unref();
  }
  reportSocket.send(`${t0} ${at}`, Number(port), '127.0.0.1');
}

/** In the bench: listens for the UDP reports of `reportStarted`; returns the port and a close. */
export async function listenForStarts(onStarted: (t0: number, at: number) => void): Promise<{ port: number; close: () => void }> {
  const socket = createSocket('udp4');
  socket.on('message', (m) => {
    const [t0, at] = m.toString().split(' ').map(Number);
    onStarted(t0, at);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, close: () => socket.close() };
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
