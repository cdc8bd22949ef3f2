/** Every state a task row can be in; mirrored by the PostgreSQL enum `task_status`. */
export enum TaskStatus {
  Pending = 'pending',
  Queued = 'queued',
  Started = 'started',
  Deferred = 'deferred',
  Success = 'success',
  Broken = 'broken',
  Error = 'error',
}

export const TASK_STATUSES = Object.values(TaskStatus);

/** Finished states: with the func's current version they make a task "completed". */
export const FINISHED_STATUSES: readonly TaskStatus[] = [TaskStatus.Success, TaskStatus.Broken];

/** Statuses an operator can cancel: anything not finished. */
export const CANCELLABLE_STATUSES: readonly TaskStatus[] = [TaskStatus.Pending, TaskStatus.Queued, TaskStatus.Deferred, TaskStatus.Started, TaskStatus.Error];

/** Statuses a retry may reset: anything but a running task. */
export const RETRYABLE_STATUSES: readonly TaskStatus[] = TASK_STATUSES.filter((s) => s !== TaskStatus.Started);

/** Statuses a purge may delete: finished failures. */
export const PURGEABLE_STATUSES: readonly TaskStatus[] = [TaskStatus.Error, TaskStatus.Broken];

/** Machine-readable codes stored in `broken_reason` by the engine itself. */
export const BrokenReason = {
  DependencyHasError: 'dependency_has_error',
  TaskKilled: 'task_killed',
  /** No longer written: a worker leaves the tasks of funcs it does not serve alone (older rows may carry it). */
  UnknownTaskFunc: 'unknown_task_func',
  Timeout: 'timeout',
  Cancelled: 'cancelled',
  ResultTooLarge: 'result_too_large',
  InvalidResult: 'invalid_result',
  /** Not started by its deadline (expiresAt / expireIn): never run. */
  Expired: 'expired',
} as const;

/** A task's id: defined where it travels (broker.ts), the same type everywhere. */
export type { TaskId } from '../broker/broker.js';
