import type { TaskId } from './task-status.js';

/** Codes of the engine's own errors; only the HTTP exception filter maps them to statuses. */
export type LaterzErrorCode =
  | 'unknown_func'
  | 'invalid_args'
  | 'args_too_large'
  | 'invalid_collection'
  | 'task_not_found'
  | 'cross_collection_dependency'
  | 'dependency_cycle'
  | 'task_running'
  | 'duplicate_task_handler'
  | 'invalid_handler'
  | 'not_in_transaction'
  | 'queue_full'
  | 'task_not_waiting'
  | 'task_has_dependents'
  | 'invalid_schedule'
  | 'schedule_not_found';

/** Base of the engine's typed errors. */
export class LaterzError extends Error {
  constructor(
    readonly code: LaterzErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UnknownFunc extends LaterzError {
  constructor(readonly func: string) {
    super('unknown_func', `unknown task func "${func}": no @TaskHandler in this process has that name, and no worker has recorded it in the database`);
  }
}

export class InvalidArgs extends LaterzError {
  constructor(func: string, problem: string) {
    super('invalid_args', `args of "${func}" are not valid JSON: ${problem}`);
  }
}

export class ArgsTooLarge extends LaterzError {
  constructor(func: string, bytes: number, limit: number) {
    super('args_too_large', `args of "${func}" are ${bytes} bytes of JSON, over the limit of ${limit} (TASK_ARGS_MAX_BYTES)`);
  }
}

export class InvalidCollection extends LaterzError {
  constructor(name: string) {
    super('invalid_collection', `collection name ${JSON.stringify(name)} must be 1-100 letters, digits, _ . -`);
  }
}

export class TaskNotFound extends LaterzError {
  constructor(readonly taskId: TaskId) {
    super('task_not_found', `task ${taskId} does not exist`);
  }
}

export class CrossCollectionDependency extends LaterzError {
  constructor(name: string, prev: TaskId, prevCollection: string, collection: string) {
    super(
      'cross_collection_dependency',
      `dependency "${name}" is task ${prev} of collection "${prevCollection}", not of "${collection}": edges stay inside one collection`,
    );
  }
}

export class DependencyCycle extends LaterzError {
  constructor(prev: TaskId, next: TaskId) {
    super('dependency_cycle', `an edge ${prev} -> ${next} would close a cycle: task ${next} already leads to task ${prev}`);
  }
}

export class TaskRunning extends LaterzError {
  constructor(readonly taskId: TaskId) {
    super('task_running', `task ${taskId} is running; it can be retried once it has finished`);
  }
}

export class DuplicateTaskHandler extends LaterzError {
  constructor(func: string, first: string, second: string) {
    super('duplicate_task_handler', `two handlers are registered as "${func}": ${first} and ${second}`);
  }
}

export class InvalidHandler extends LaterzError {
  constructor(message: string) {
    super('invalid_handler', message);
  }
}

/** An enqueue's `tx` is not a transaction laterz can join (nothing was written). */
export class NotInTransaction extends LaterzError {
  constructor(reason: string) {
    super('not_in_transaction', `enqueue with tx: ${reason}`);
  }
}

/** An enqueue would take a capped func past its `maxQueued` waiting tasks: nothing was written (HTTP 429). */
export class QueueFull extends LaterzError {
  constructor(
    readonly func: string,
    readonly cap: number,
    readonly depth: number,
    adding = 1,
  ) {
    super('queue_full', `queue of "${func}" is full: ${depth} task(s) wait (pending, queued or deferred), its cap (maxQueued) is ${cap}, ${adding} more would pass it`);
  }
}

/** reschedule / removeWaiting on a task that does not wait for a time (or, for a retry, has none left). */
export class TaskNotWaiting extends LaterzError {
  constructor(
    readonly taskId: TaskId,
    status: string,
  ) {
    super('task_not_waiting', `task ${taskId} is ${status}: only a pending task, or a failed one waiting for its retry, can be rescheduled or removed`);
  }
}

/** A delete (by identity, or removeWaiting) of a task other tasks depend on: nothing was deleted (HTTP 409). */
export class TaskHasDependents extends LaterzError {
  constructor(
    readonly taskId: TaskId,
    readonly dependents: number,
  ) {
    super('task_has_dependents', `task ${taskId} cannot be deleted: ${dependents} other task(s) depend on it; remove or cancel those first, or cancel this one`);
  }
}

/** Thrown by a handler for a permanent problem (corrupt input, unsupported type): the task is `broken`. */
export class TaskBroken extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'TaskBroken';
  }
}

/** Thrown by a handler for a temporary problem: the task is `error` and retried after a while. */
export class TaskError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

/** The value a child receives for a parent that ended `broken`; thrown, it breaks the child likewise. */
export class DependencyBroken extends TaskBroken {
  constructor(
    readonly dependency: string,
    reason: string,
    readonly parentError: string,
  ) {
    super(reason, `dependency "${dependency}" is broken (${reason}): ${parentError}`);
    this.name = 'DependencyBroken';
  }
}

/** Internal: a handler asked for a dependency it does not have yet (the task waits for it). */
export class MissingDependency extends Error {
  constructor(
    readonly dependency: string,
    readonly prevId: TaskId,
  ) {
    super(`missing dependency "${dependency}" (task ${prevId})`);
    this.name = 'MissingDependency';
  }
}

/** Internal: a handler dropped a dependency it no longer needs (the task runs again without it). */
export class ExtraDependency extends Error {
  constructor(readonly dependency: string) {
    super(`extra dependency "${dependency}"`);
    this.name = 'ExtraDependency';
  }
}
