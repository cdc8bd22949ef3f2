import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

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
}

type Line = { k: 's'; x: string; t: string; a: number; f: string; p: number; at: number } | { k: 'e'; x: string; at: number; o: ExecutionOutcome };

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
  private seq = 0;

  constructor(private readonly dir: string | undefined) {}

  /** Records the start of a run; returns its id for `end`. Call before the handler does any work. */
  start(task: { taskId: string; attempt: number; func: string }): string {
    const x = `${process.pid}.${++this.seq}`;
    this.write({ k: 's', x, t: task.taskId, a: task.attempt, f: task.func, p: process.pid, at: wallMs() });
    return x;
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
    this.fd ??= openSync(join(this.dir, `exec-${process.pid}.jsonl`), 'a');
    writeSync(this.fd, JSON.stringify(line) + '\n');
  }
}

/** Reads every execution recorded in `dir` (a torn last line of a killed process is skipped). */
export function readExecutions(dir: string): { executions: Execution[]; tornLines: number } {
  const byId = new Map<string, Execution>();
  let tornLines = 0;
  for (const file of readdirSync(dir).filter((f) => /^exec-\d+\.jsonl$/.test(f))) {
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
        byId.set(line.x, { id: line.x, taskId: line.t, attempt: line.a, func: line.f, pid: line.p, startedAt: line.at });
      } else {
        const e = byId.get(line.x);
        if (e) {
          e.endedAt = line.at;
          e.outcome = line.o;
        }
      }
    }
  }
  return { executions: [...byId.values()], tornLines };
}
