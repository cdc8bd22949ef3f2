import type { TaskId } from '../tasks/task-status.js';
import { TaskStatus } from '../tasks/task-status.js';
import type { UnfinishedRow } from './driver.gateway.js';

/**
 * Why a task is not finished once nothing is runnable:
 * - `retry`: failed (`error`); its retry policy runs it again at `at` (its run_after);
 * - `failed`: failed (`error`) with no retry left: only an operator's retry runs it again;
 * - `run_after`: pending until `at` (its runAfter);
 * - `parents`: a parent has not finished (it waits, or it failed and waits for its own retry);
 * - `paused`: its collection does not process;
 * - `not_served`: no handler of this app runs its func;
 * - `running`: started, by a process other than this one;
 * - `unknown`: none of the above (the report shows it rather than hide it).
 */
export type WaitReason = 'retry' | 'failed' | 'run_after' | 'parents' | 'paused' | 'not_served' | 'running' | 'unknown';

/** A task still waiting when runUntilIdle() returns, and why. */
export interface WaitingTask {
  id: TaskId;
  collection: string;
  func: string;
  status: TaskStatus;
  why: WaitReason;
  /** When it becomes runnable by itself: its next retry tier (`retry`) or its runAfter (`run_after`). */
  at?: Date;
  /** The error of its last attempt (a failed task). */
  error?: string;
}

export interface WaitingContext {
  /** The funcs this app has handlers for. */
  served: ReadonlySet<string>;
  /** RETRY_TIERS. */
  tiers: readonly { minutes: number; failLimit: number }[];
  now: Date;
}

/** Why `row`, not finished, does not run now (a pure decision over what the gateway read). */
export function whyWaiting(row: UnfinishedRow, context: WaitingContext): WaitingTask {
  const task: WaitingTask = { id: row.id, collection: row.collection, func: row.func, status: row.status as TaskStatus, why: 'unknown' };
  if (row.status === TaskStatus.Error) task.error = row.error;
  if (!context.served.has(row.func)) return { ...task, why: 'not_served' };
  if (!row.processes) return { ...task, why: 'paused' };
  switch (row.status) {
    case TaskStatus.Started:
      return { ...task, why: 'running' };
    case TaskStatus.Error:
      return row.runAfter ? { ...task, why: 'retry', at: row.runAfter } : { ...task, why: 'failed' };
    case TaskStatus.Pending:
      if (row.runAfter && row.runAfter.getTime() > context.now.getTime()) return { ...task, why: 'run_after', at: row.runAfter };
      return row.parentsUnfinished ? { ...task, why: 'parents' } : task;
    default:
      return row.parentsUnfinished ? { ...task, why: 'parents' } : task;
  }
}

/** The earliest tier that still takes the task (fewer failures than its limit): its due time; undefined when none does. */
export function nextRetry(row: Pick<UnfinishedRow, 'failCount' | 'modified'>, tiers: readonly { minutes: number; failLimit: number }[]): Date | undefined {
  const due = tiers.filter((t) => row.failCount < t.failLimit).map((t) => row.modified.getTime() + t.minutes * 60_000);
  return due.length === 0 ? undefined : new Date(Math.min(...due));
}
