import type { TaskStatus } from '../task-status.js';

/**
 * A status set (task-status.ts) as an SQL list literal, e.g. `('error', 'broken')`: constants in
 * the statement's text, so the planner can match partial indexes the way it would a written list.
 */
export function statusList(statuses: readonly TaskStatus[]): string {
  return `(${statuses.map((s) => `'${s}'`).join(', ')})`;
}
