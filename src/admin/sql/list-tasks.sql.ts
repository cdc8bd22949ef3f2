import { statusList } from '../../tasks/sql/status-list.js';
import { FINISHED_STATUSES } from '../../tasks/task-status.js';
import { TASK_COLUMNS } from './inspect.sql.js';

/** Characters of `error` a list shows (inspect shows it whole). */
const ERROR_CHARS_IN_LIST = 1000;

export interface ListTasksSpec {
  /** The filter's WHERE clause (from `filterToSql`) and its parameters, numbered from $1. */
  where: string;
  params: unknown[];
  /** Only tasks finished at a version other than their func's current one (true) or the others (false). */
  outdated?: { want: boolean; funcs: string[]; versions: number[] };
  /** The sort column and its SQL type (from the allow-list TASK_SORTS) and the SQL of its cursor key. */
  sort: { column: string; type: string; keySql: string };
  order: 'asc' | 'desc';
  /** The last row of the previous page: its sort key and id. */
  after?: { key: string; id: string };
  /** Rows to read (a page and one more, to know there is a next page). */
  limit: number;
}

/**
 * A page of tasks, keyset-paginated on (sort column, id). Every column is qualified: the select
 * list renames `id::text AS id`, and a bare `id` in ORDER BY would sort that text (9 after 10)
 * while the keyset compares bigints.
 */
export function listTasksStatement(spec: ListTasksSpec): { text: string; values: unknown[] } {
  const parts = [spec.where];
  const values = [...spec.params];
  const param = (v: unknown) => `$${values.push(v)}`;
  if (spec.outdated !== undefined) {
    const outdated = `(status IN ${statusList(FINISHED_STATUSES)} AND EXISTS (SELECT 1 FROM unnest(${param(spec.outdated.funcs)}::text[], ${param(
      spec.outdated.versions,
    )}::int[]) AS v(func, version) WHERE v.func = task.func AND v.version <> task.version))`;
    parts.push(spec.outdated.want ? outdated : `NOT ${outdated}`);
  }
  const { column, type } = spec.sort;
  if (spec.after !== undefined) {
    const cmp = spec.order === 'asc' ? '>' : '<';
    parts.push(`(task.${column}, task.id) ${cmp} (${param(spec.after.key)}::${type}, ${param(spec.after.id)}::bigint)`);
  }
  const dir = spec.order === 'asc' ? 'ASC' : 'DESC';
  const text = `
      SELECT ${TASK_COLUMNS}, left(error, ${ERROR_CHARS_IN_LIST}) AS error, ${spec.sort.keySql} AS sort_key
        FROM task WHERE ${parts.join(' AND ')}
       ORDER BY task.${column} ${dir}, task.id ${dir}
       LIMIT ${param(spec.limit)}`;
  return { text, values };
}
