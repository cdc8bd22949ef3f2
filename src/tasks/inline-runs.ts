import type { TaskHandle } from './enqueue-request.js';

/**
 * Inline mode (`LaterzModule.forRoot({ inline: true })`, `LaterzTesting.create({ inline: true })`):
 * what an enqueue made runnable runs in the caller, through the worker's own claim, run and finish,
 * before the enqueue resolves. Provided only in inline mode; TasksService calls it after each
 * committed enqueue of its own (not one inside a caller's transaction, `tx`: its rows are not
 * there before the caller commits).
 */
export interface InlineRuns {
  /** Runs every runnable task; resolves with `handles` as they are then (their statuses now). */
  afterEnqueue(handles: TaskHandle[]): Promise<TaskHandle[]>;
}

export const INLINE_RUNS = Symbol('laterz:inline-runs');
