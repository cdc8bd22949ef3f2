import type { EnqueueOptions, TaskHandle } from './enqueue-request.js';
import type { DependencyBroken } from './tasks.errors.js';
import type { TaskId } from './task-status.js';

/** A handler's logger: its lines are also kept in `task.log`. */
export interface TaskLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What a handler gets besides its args and its parents' results. */
export interface TaskContext {
  readonly taskId: TaskId;
  readonly collection: string;
  readonly func: string;
  readonly attempt: number;
  /** Aborted on timeout, cancel and shutdown. */
  readonly signal: AbortSignal;
  /** Lines written here are also kept in `task.log` (capped, tail kept). */
  readonly logger: TaskLogger;
  /**
   * The result of dependency `name`. When the task has no such dependency yet, `enqueue` is called
   * to make the parent, and the task waits (`deferred`) until the parent is completed.
   * A broken parent is thrown (breaking this task too) unless `returnError` is set.
   */
  requireDependency<T = unknown>(
    name: string,
    enqueue: () => Promise<TaskHandle> | TaskHandle,
    options?: { returnError?: boolean },
  ): Promise<T | DependencyBroken>;
  /** Drops dependency `name` if the task has it; the task then runs again without it. */
  removeDependency(name: string): void;
  /** Enqueues another task, in this task's collection unless told otherwise. */
  enqueue(func: string, args: unknown, options?: EnqueueOptions): Promise<TaskHandle>;
}

/** One task of a bulk handler's batch. */
export interface BulkTask {
  id: TaskId;
  collection: string;
  func: string;
  args: unknown;
  sizeBytes: number;
}

/** What a bulk handler gets besides its batch. */
export interface BulkContext {
  readonly collection: string;
  readonly func: string;
  readonly signal: AbortSignal;
  readonly logger: TaskLogger;
}
