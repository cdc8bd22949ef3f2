import type { TaskStatus } from '../tasks/task-status.js';

/**
 * What a watcher of the runner (the metrics) is told, synchronously on the hot path: keep it cheap.
 * Provide one (a module exporting it, given to WorkerModule.forRoot) and the runner calls it; the
 * runner runs the same without one. Also the DI token.
 */
export abstract class RunnerObserver {
  /** A micro-batch was claimed: `delivered` deliveries came in (rows picked, for a pull), `started` of them now run here. */
  abstract claimed(delivered: number, started: number): void;

  /**
   * A run's outcome landed (a stale attempt's write, which changes nothing, is not reported, nor is
   * a run handed back or re-queued for a dependency): the task is now `status`, `seconds` after
   * its claim committed.
   */
  abstract finished(func: string, status: TaskStatus, seconds: number): void;

  /**
   * How many runs here are given up (timed out, cancelled, handed back, their session lost) while
   * their handlers have not returned: each holds its task's lock and a slot until it does.
   */
  abandonedRunning?(count: number): void;

  /** A lost session's lock could not be taken again: another session holds it (the worker stops). */
  lockLost?(): void;

  /** The isolates of a kind (`thread`, `process`) now: how many are alive, how many of them run a task. */
  isolates?(mode: string, alive: number, busy: number): void;

  /** An isolate ended: `retired` (recycled, idle, shutdown), or how it ended its task (`task_killed`, `out_of_memory`, `handler_crashed`, `handler_exited`). */
  isolateEnded?(mode: string, how: string): void;
}
