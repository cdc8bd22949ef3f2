import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, threadId } from 'node:worker_threads';

/** How an execution ended, as its handler saw it. */
export type ExecutionOutcome = 'ok' | 'aborted' | 'threw' | 'exit-called';

/** One run of a handler, as recorded by the worker process that ran it. */
export interface Execution {
  /** `<pid>.<n>`: unique over the whole run. */
  id: string;
  taskId: string;
  attempt: number;
  func: string;
  pid: number;
  /** Wall clock, epoch milliseconds (fractional). */
  startedAt: number;
  /** Undefined when the process died before the handler ended. */
  endedAt?: number;
  outcome?: ExecutionOutcome;
  /**
   * Isolated handlers (issue 17): the isolate it ran in (`<worker pid>:t<threadId>` or
   * `p<child pid>`), the worker process that owns it, and when the worker saw that isolate end
   * (exit event): a handler ended by force writes no end of its own.
   */
  isolate?: string;
  ownerPid?: number;
  isolateEndedAt?: number;
}

type Line =
  | { k: 's'; x: string; t: string; a: number; f: string; p: number; at: number; w?: string; o?: number }
  | { k: 'e'; x: string; at: number; o: ExecutionOutcome }
  /** An isolate ended, as its worker saw it (its exit event). */
  | { k: 'i'; w: string; at: number };

/**
 * Where this code runs, when it is an isolate of a worker: a worker thread (the worker's pid and
 * the thread's id) or a child process of the worker (its own pid; the worker is its parent).
 */
function isolateHere(): { w: string; o: number } | undefined {
  if (!isMainThread) return { w: `${process.pid}:t${threadId}`, o: process.pid };
  if (process.env.CHAOS_ISOLATE_CHILD === '1') return { w: `p${process.pid}`, o: process.ppid };
  return undefined;
}

/** The key of an isolate as its worker names it when it ends (the same as `isolateHere` gives inside it). */
export function isolateKey(kind: 'thread' | 'child', id: number): string {
  return kind === 'thread' ? `${process.pid}:t${id}` : `p${id}`;
}

/** The same clock in every process of the machine, with sub-millisecond resolution. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The checker's record of every execution, kept apart from the task's own transaction: each
 * worker process appends lines to a file of its own with a synchronous write(2), so a line is in
 * the kernel before the handler does any work and survives a SIGKILL of the process (and any
 * database outage: scenarios 3 and 4 must not change what is recorded).
 */
export class ExecutionLog {
  private fd?: number;
  /** Shared by every log of a thread (the worker's modules may each have one): ids stay unique. */
  private static seq = 0;

  constructor(private readonly dir: string | undefined) {}

  /** Records the start of a run; returns its id for `end`. Call before the handler does any work. */
  start(task: { taskId: string; attempt: number; func: string }): string {
    const x = `${process.pid}${isMainThread ? '' : `t${threadId}`}.${++ExecutionLog.seq}`;
    this.write({ k: 's', x, t: task.taskId, a: task.attempt, f: task.func, p: process.pid, at: wallMs(), ...isolateHere() });
    return x;
  }

  /** In a worker process: records that one of its isolates ended (called from the isolate's exit event). */
  isolateEnded(key: string): void {
    this.write({ k: 'i', w: key, at: wallMs() });
  }

  /** Records the end of a run: the handler does no more work after this. */
  end(x: string, outcome: ExecutionOutcome): void {
    this.write({ k: 'e', x, at: wallMs(), o: outcome });
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(line: Line): void {
    if (!this.dir) throw new Error('CHAOS_RECORD_DIR is not set: this process cannot record executions');
    // One file per writer: a worker thread has its own.
    this.fd ??= openSync(join(this.dir, `exec-${process.pid}${isMainThread ? '' : `-${threadId}`}.jsonl`), 'a');
    writeSync(this.fd, JSON.stringify(line) + '\n');
  }
}

/** Reads every execution recorded in `dir` (a torn last line of a killed process is skipped). */
export function readExecutions(dir: string): { executions: Execution[]; tornLines: number } {
  const byId = new Map<string, Execution>();
  const isolateEnds = new Map<string, number>();
  let tornLines = 0;
  for (const file of readdirSync(dir).filter((f) => /^exec-\d+(-\d+)?\.jsonl$/.test(f))) {
    for (const text of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (text === '') continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        tornLines++;
        continue;
      }
      if (line.k === 's') {
        byId.set(line.x, { id: line.x, taskId: line.t, attempt: line.a, func: line.f, pid: line.p, startedAt: line.at, isolate: line.w, ownerPid: line.o });
      } else if (line.k === 'i') {
        isolateEnds.set(line.w, line.at);
      } else {
        const e = byId.get(line.x);
        if (e) {
          e.endedAt = line.at;
          e.outcome = line.o;
        }
      }
    }
  }
  const executions = [...byId.values()];
  for (const e of executions) if (e.isolate !== undefined && isolateEnds.has(e.isolate)) e.isolateEndedAt = isolateEnds.get(e.isolate);
  return { executions, tornLines };
}
