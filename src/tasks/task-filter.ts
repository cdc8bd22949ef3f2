import { TaskStatus, TASK_STATUSES } from './task-status.js';
import { InvalidArgs } from './tasks.errors.js';

/** Selects tasks by columns from an allow-list; turned into SQL with parameters only. */
export interface TaskFilter {
  collection?: string;
  func?: string;
  status?: TaskStatus[];
  brokenReason?: string;
  /** Last modified before this time. */
  modifiedBefore?: Date;
  /** Text contained in the error message. */
  errorContains?: string;
}

/** WHERE clause (without the keyword) and its parameters, numbered from `offset + 1`. */
export function filterToSql(filter: TaskFilter, offset = 0): { where: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${offset + params.length}`;
  };
  if (filter.collection !== undefined) parts.push(`collection = ${param(filter.collection)}`);
  if (filter.func !== undefined) parts.push(`func = ${param(filter.func)}`);
  if (filter.status !== undefined && filter.status.length > 0) {
    for (const s of filter.status) if (!TASK_STATUSES.includes(s)) throw new InvalidArgs('filter', `unknown status ${JSON.stringify(s)}`);
    parts.push(`status = ANY(${param(filter.status)}::task_status[])`);
  }
  if (filter.brokenReason !== undefined) parts.push(`broken_reason = ${param(filter.brokenReason)}`);
  if (filter.modifiedBefore !== undefined) parts.push(`date_modified < ${param(filter.modifiedBefore)}`);
  if (filter.errorContains !== undefined) parts.push(`strpos(error, ${param(filter.errorContains)}) > 0`);
  return { where: parts.length > 0 ? parts.join(' AND ') : 'true', params };
}
