import { ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EnqueueOptions, TaskHandle } from '../../tasks/enqueue-request.js';
import type { TaskLogger } from '../../tasks/task-context.js';
import type { Isolation } from '../../tasks/task-handler.decorator.js';
import { TaskBroken } from '../../tasks/tasks.errors.js';
import { decodeError, encodeError, FromIsolate, IsolateBoot, IsolatedTask, ToIsolate } from './isolate-protocol.js';

/** An isolate's kind. */
export type IsolationMode = Exclude<Isolation, 'inline'>;

/** Why an isolated run ended without its handler's answer: its task is broken with this reason. */
export const IsolateEndReason = {
  OutOfMemory: 'out_of_memory',
  Crashed: 'handler_crashed',
  Exited: 'handler_exited',
  Killed: 'task_killed',
} as const;

/** The isolate's entry: compiled beside this file; under a TypeScript test runner, this checkout's build of it. */
function hostEntry(): string {
  const here = fileURLToPath(new URL('./isolate-host.js', import.meta.url));
  return existsSync(here) ? here : fileURLToPath(new URL('../../../dist/src/runner/isolation/isolate-host.js', import.meta.url));
}

/** What one run in an isolate reports to: the worker's log buffer of the task, and its enqueue. */
export interface IsolatedRunIo {
  log: TaskLogger;
  enqueue(func: string, args: unknown, options: EnqueueOptions): Promise<TaskHandle>;
}

interface Pending {
  run: number;
  io: IsolatedRunIo;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

const STDERR_TAIL_BYTES = 4096;

/**
 * One worker thread or child process that runs one task at a time: started, told to run a task,
 * to abort it, to retire; ended by force on a hard timeout. Its end (an exit, a signal, out of
 * memory) rejects the run in progress with a TaskBroken that says how it ended.
 */
export class Isolate {
  /** Tasks it ran (finished), when it started, its own memory measure after its last run (bytes). */
  tasks = 0;
  readonly startedAt = Date.now();
  memory = 0;
  idleSince = 0;
  private pending?: Pending;
  private nextRun = 0;
  private ended = false;
  /** It said it is ending (or was told to): no task is given to it any more. */
  private leaving = false;
  private killedOnPurpose = false;
  private outOfMemory = false;
  private stderrTail = '';
  private readonly exited: Promise<void>;

  private constructor(
    readonly mode: IsolationMode,
    readonly memoryLimitMb: number,
    private readonly endpoint: Worker | ChildProcess,
    readonly funcs: Promise<string[]>,
  ) {
    this.exited = new Promise((resolve) => endpoint.once('exit', () => resolve()));
  }

  /** Starts an isolate and resolves once it has booted the handlers files (with the funcs it found there). */
  static async start(mode: IsolationMode, boot: IsolateBoot, memoryLimitMb: number): Promise<Isolate> {
    let endpoint: Worker | ChildProcess;
    if (mode === 'thread') {
      endpoint = new Worker(hostEntry(), { workerData: boot, resourceLimits: memoryLimitMb > 0 ? { maxOldGenerationSizeMb: memoryLimitMb } : undefined });
    } else {
      endpoint = fork(hostEntry(), [JSON.stringify(boot)], {
        execArgv: memoryLimitMb > 0 ? [`--max-old-space-size=${memoryLimitMb}`] : [],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      });
    }
    let ready!: (funcs: string[]) => void;
    let failed!: (err: Error) => void;
    const funcs = new Promise<string[]>((resolve, reject) => ((ready = resolve), (failed = reject)));
    const isolate = new Isolate(mode, memoryLimitMb, endpoint, funcs);
    isolate.listen(ready, failed);
    await funcs;
    return isolate;
  }

  /** It can take a task: not ended, not ending. */
  get alive(): boolean {
    return !this.ended && !this.leaving;
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** Runs `task`; resolves with its handler's result (parsed from the isolate's canonical JSON), rejects with its error. */
  run(task: IsolatedTask, io: IsolatedRunIo): Promise<unknown> {
    if (!this.alive) return Promise.reject(new Error(`the ${this.describe()} has ended`));
    if (this.pending) return Promise.reject(new Error(`the ${this.describe()} is running another task`));
    const run = this.nextRun++;
    return new Promise((resolve, reject) => {
      this.pending = { run, io, resolve, reject };
      this.send({ t: 'run', run, task });
    });
  }

  /** Tells the running handler to stop (its ctx.signal aborts with this reason). */
  abort(reason: Error): void {
    if (this.pending) this.send({ t: 'abort', run: this.pending.run, reason: { name: reason.name, message: reason.message } });
  }

  /** Ends it by force (a hard timeout): the run in progress fails as killed. Resolves once it has exited. */
  kill(): Promise<void> {
    if (!this.ended) {
      this.leaving = true;
      this.killedOnPurpose = true;
      if (this.endpoint instanceof Worker) void this.endpoint.terminate();
      else this.endpoint.kill('SIGKILL');
    }
    return this.exited;
  }

  /** Ends it gracefully (recycled, idle, shutdown): it closes its application context and exits. */
  retire(graceMs: number): Promise<void> {
    if (this.ended) return this.exited;
    this.leaving = true;
    this.send({ t: 'retire' });
    const timer = setTimeout(() => void this.kill(), graceMs);
    timer.unref();
    return this.exited.finally(() => clearTimeout(timer));
  }

  describe(): string {
    return this.mode === 'thread' ? `worker thread ${(this.endpoint as Worker).threadId}` : `child process ${(this.endpoint as ChildProcess).pid}`;
  }

  private send(message: ToIsolate): void {
    if (this.endpoint instanceof Worker) this.endpoint.postMessage(message);
    else if (this.endpoint.connected) this.endpoint.send(message);
  }

  private listen(ready: (funcs: string[]) => void, failed: (err: Error) => void): void {
    const { endpoint } = this;
    endpoint.on('message', (message: FromIsolate) => this.receive(message, ready, failed));
    if (endpoint instanceof Worker) {
      endpoint.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') this.outOfMemory = true;
        else this.stderrTail = `${err.name}: ${err.message}`;
      });
    } else {
      endpoint.stderr?.on('data', (chunk: Buffer) => {
        process.stderr.write(chunk);
        this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL_BYTES);
      });
    }
    endpoint.once('exit', (code: number | null, signal?: NodeJS.Signals | null) => {
      this.ended = true;
      const why = this.endedBecause(code, signal ?? null);
      failed(new Error(`the ${this.describe()} ended before it booted: ${why.message}${this.stderrTail ? `\n${this.stderrTail.trim()}` : ''}`));
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(why);
    });
  }

  private receive(message: FromIsolate, ready: (funcs: string[]) => void, failed: (err: Error) => void): void {
    switch (message.t) {
      case 'ready':
        ready(message.funcs);
        return;
      case 'boot-failed':
        failed(new Error(message.message));
        return;
      case 'log':
        if (this.pending?.run === message.run) this.pending.io.log[message.level](message.message);
        return;
      case 'enqueue': {
        const pending = this.pending;
        if (pending?.run !== message.run) return;
        pending.io.enqueue(message.func, message.args, message.options).then(
          (handle) => this.send({ t: 'enqueued', call: message.call, handle: { ...handle } }),
          (err: unknown) => this.send({ t: 'enqueued', call: message.call, error: encodeError(err) }),
        );
        return;
      }
      case 'done': {
        const pending = this.pending;
        if (pending?.run !== message.run) return;
        this.pending = undefined;
        this.tasks++;
        this.memory = message.memory;
        if (message.last) this.leaving = true;
        if (message.error) pending.reject(decodeError(message.error));
        else pending.resolve(JSON.parse(message.json ?? 'null'));
        return;
      }
    }
  }

  /** How its end breaks the task it was running. */
  private endedBecause(code: number | null, signal: NodeJS.Signals | null): TaskBroken {
    const what = `the handler's ${this.mode === 'thread' ? 'worker thread' : 'child process'}`;
    if (this.killedOnPurpose) return new TaskBroken(IsolateEndReason.Killed, `${what} was ended by the worker (hard timeout, or given up)`);
    if (this.outOfMemory || /heap out of memory|Reached heap limit/.test(this.stderrTail)) {
      return new TaskBroken(IsolateEndReason.OutOfMemory, `${what} ran out of memory (its heap limit: ISOLATE_MEMORY_LIMIT_MB or the func's memoryLimit)`);
    }
    if (signal !== null) return new TaskBroken(IsolateEndReason.Crashed, `${what} was killed by ${signal}${lastLine(this.stderrTail)}`);
    return new TaskBroken(IsolateEndReason.Exited, `${what} exited with code ${code} while the handler ran (process.exit, or a crash)${lastLine(this.stderrTail)}`);
  }
}

function lastLine(text: string): string {
  const line = text.trim().split('\n').pop()?.trim();
  return line ? `: ${line.slice(0, 300)}` : '';
}
