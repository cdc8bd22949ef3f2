import type { TaskId } from '../../tasks/task-status.js';
import type { LogBuffer } from '../run/run-context.js';

/**
 * How often the logs of running tasks that wrote since the last flush reach their rows. A second
 * keeps an operator's view current at one statement a second per worker process, however many
 * tasks log.
 */
export const LIVE_LOG_FLUSH_MS = 1000;

/** Writes the logs of running tasks (one statement for all of them); resolves with the ids it wrote. */
export type LiveLogWrite = (ids: TaskId[], attempts: number[], logs: string[]) => Promise<TaskId[]>;

interface Watched {
  attempt: number;
  log: LogBuffer;
  /** `log.writes` when its text last landed in the row. */
  flushed: number;
}

/**
 * The log of a running task, readable in its row while it runs (the finish writes the whole log
 * once more). A task is watched from its first log line until its finish; every LIVE_LOG_FLUSH_MS
 * the logs that grew since they were last written go out in one guarded statement (a row no
 * longer started by that attempt is left alone). Tasks that never log cost nothing.
 */
export class LiveTaskLogs {
  private readonly watched = new Map<TaskId, Watched>();
  private timer?: NodeJS.Timeout;
  private flushing = false;
  private failing = false;

  constructor(
    private readonly write: LiveLogWrite,
    private readonly onError: (err: Error) => void,
    private readonly everyMs = LIVE_LOG_FLUSH_MS,
  ) {}

  /** The task's log has a new line: it goes out with the next flush. */
  wrote(task: { id: TaskId; attempt: number }, log: LogBuffer): void {
    if (!this.watched.has(task.id)) this.watched.set(task.id, { attempt: task.attempt, log, flushed: 0 });
    // Unref'd: a flush pending never keeps a process alive.
    this.timer ??= setInterval(() => void this.flush(), this.everyMs).unref();
  }

  /** The task's run has ended (its finish writes the whole log): no more flushes for it. */
  forget(ids: Iterable<TaskId>): void {
    for (const id of ids) this.watched.delete(id);
    if (this.watched.size === 0) this.stop();
  }

  /** Writes every log that grew since its last write, in one statement; resolves with how many landed. */
  async flush(): Promise<number> {
    if (this.flushing) return 0;
    const due = [...this.watched].filter(([, w]) => w.log.writes > w.flushed);
    if (due.length === 0) return 0;
    this.flushing = true;
    const marks = due.map(([, w]) => w.log.writes);
    try {
      const written = new Set(await this.write(due.map(([id]) => id), due.map(([, w]) => w.attempt), due.map(([, w]) => w.log.text())));
      due.forEach(([id, w], i) => {
        if (written.has(id)) w.flushed = marks[i];
      });
      this.failing = false;
      return written.size;
    } catch (err) {
      // Said once, not every second while the database is away; the finish writes the log anyway.
      if (!this.failing) this.onError(err as Error);
      this.failing = true;
      return 0;
    } finally {
      this.flushing = false;
    }
  }

  /** Stops the timer (shutdown); what is still watched is written by its finish. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
