import { ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { BenchRequest, WorkerMessage } from './ipc.js';

export interface WorkerSpec {
  /** Shown in messages: `laterz#1`, `pg-boss#2`. */
  label: string;
  /** Compiled module to fork. */
  script: string;
  env: Record<string, string | undefined>;
}

export type MemoryReport = Extract<WorkerMessage, { type: 'memory' }>;
type FinishedReport = Extract<WorkerMessage, { type: 'finished' }>;

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const OUTPUT_LINES_KEPT = 40;

/** One forked worker process, talking to the bench over the IPC channel. */
export class WorkerProcess {
  private readonly output: string[] = [];
  private readonly startedListeners: ((t0: number, at: number) => void)[] = [];
  private readonly finishedListeners: ((kind: FinishedReport['kind'], count: number) => void)[] = [];
  private memoryWaiters: ((m: MemoryReport) => void)[] = [];
  private exited = false;
  private stopping = false;
  /** Rejects if the worker exits before stop() is called (killed, crashed). */
  readonly died: Promise<never>;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
    verbose: boolean,
  ) {
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter((l) => l.trim() !== '')) {
        if (verbose) console.error(`  [${label}] ${line}`);
        this.output.push(line);
        if (this.output.length > OUTPUT_LINES_KEPT) this.output.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.died = new Promise<never>((_, reject) => {
      child.on('exit', (code, signal) => {
        this.exited = true;
        if (!this.stopping) reject(new Error(`${label} exited unexpectedly (${signal ?? `code ${code}`})\n${this.tail()}`));
      });
    });
    this.died.catch(() => undefined);
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'started') for (const l of this.startedListeners) l(m.t0, m.at);
      else if (m.type === 'finished') for (const l of this.finishedListeners) l(m.kind, m.count);
      else if (m.type === 'memory') {
        const waiters = this.memoryWaiters;
        this.memoryWaiters = [];
        for (const w of waiters) w(m);
      }
    });
  }

  /** Forks the worker and resolves once it says it is consuming. */
  static async start(spec: WorkerSpec, verbose: boolean): Promise<WorkerProcess> {
    const env = Object.fromEntries(Object.entries(spec.env).filter((e): e is [string, string] => e[1] !== undefined));
    // --expose-gc: the memory scenario reads RSS after a full collection, so the figure is what is retained.
    const child = fork(spec.script, [], { env, execArgv: ['--expose-gc'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const worker = new WorkerProcess(spec.label, child, verbose);
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${spec.label} not ready after ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
        child.on('message', (m: WorkerMessage) => m.type === 'ready' && resolve());
        child.once('exit', (code, signal) => reject(new Error(`${spec.label} exited during start (${signal ?? `code ${code}`})`)));
        child.once('error', reject);
      });
    } catch (err) {
      await worker.stop();
      throw new Error(`${(err as Error).message}\n${worker.tail()}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return worker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Last lines the worker printed, for error messages. */
  tail(): string {
    return this.output.map((l) => `    [${this.label}] ${l}`).join('\n');
  }

  onStarted(listener: (t0: number, at: number) => void): void {
    this.startedListeners.push(listener);
  }

  onFinished(listener: (kind: FinishedReport['kind'], count: number) => void): void {
    this.finishedListeners.push(listener);
  }

  /** The worker's process.memoryUsage(), after a full garbage collection when `gc`. */
  async memory(gc: boolean): Promise<MemoryReport> {
    if (this.exited) throw new Error(`${this.label} has exited\n${this.tail()}`);
    const answer = new Promise<MemoryReport>((resolve) => this.memoryWaiters.push(resolve));
    this.child.send({ type: 'memory', gc } satisfies BenchRequest);
    return answer;
  }

  /** SIGTERM (the worker hands back what it runs), SIGKILL if it is not gone in time. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.exited || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
  }
}

/** Starts several workers at once; stops those that started if one fails. */
export async function startWorkers(specs: WorkerSpec[], verbose: boolean): Promise<WorkerProcess[]> {
  const results = await Promise.allSettled(specs.map((s) => WorkerProcess.start(s, verbose)));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopWorkers(started);
    throw failed.reason;
  }
  return started;
}

export async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}
