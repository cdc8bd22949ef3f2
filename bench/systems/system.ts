import type { WorkerProcess, WorkerSpec } from '../lib/workers.js';

/** The two kinds of job every system runs: a no-op, and one that reports when it started. */
export type JobKind = 'noop' | 'latency';

export interface JobPayload {
  i: number;
  /** wallMs() just before the enqueue call (latency jobs). */
  t0?: number;
}

/**
 * A job system under test (laterz or a peer), driven the same way in every scenario: install it
 * in a fresh database, fork its worker processes, and use a client in the bench process to
 * enqueue and to watch the drain.
 */
export interface SeedOptions {
  analyze?: boolean;
}

export interface QueueSystem<C extends SystemClient = SystemClient> {
  /** Name in tables and in `peers`. */
  readonly name: string;
  /** The settings it runs with, recorded in the results. */
  readonly settings: Record<string, unknown>;
  /** Installs its schema into an empty database. */
  install(url: string): Promise<void>;
  /** Specs of `count` worker processes on that database. */
  workers(url: string, count: number): WorkerSpec[];
  /** A client in the bench process (enqueue, seed, observe). */
  open(url: string): Promise<C>;
  /** Listens to its started worker processes (raw amqplib: they report their acks, having no database). */
  observe?(client: C, workers: WorkerProcess[]): void;
  /** Removes what the run left outside its database (laterz on AMQP: its queues). */
  dispose?(url: string): Promise<void>;
}

export interface SystemClient {
  /**
   * Writes `n` no-op jobs in one transaction (not timed) and hands them to the workers. Returns
   * wallMs() at the commit: the moment they became visible, where a drain's clock starts.
   * `analyze`: ANALYZE the job table with them (inside that transaction where the system lets
   * the bench write it), as if autovacuum had run since.
   */
  seedNoop(n: number, options?: SeedOptions): Promise<number>;
  /** One job through the system's ordinary single-job call. */
  enqueue(kind: JobKind, payload: JobPayload): Promise<void>;
  /** True while some job is not finished (cheap: polled every few ms during a drain). */
  busy(): Promise<boolean>;
  /** Jobs in the system, whatever their state (graphile-worker: not yet completed). */
  count(): Promise<number>;
  /** Jobs of this kind finished successfully. */
  succeeded(kind: JobKind): Promise<number>;
  close(): Promise<void>;
}
