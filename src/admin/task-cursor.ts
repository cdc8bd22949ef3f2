import { TASK_SORTS, TaskSort, SortType } from './dto/list-tasks.dto.js';
import { validationFailed } from './validation.pipe.js';

/** What a `GET /api/tasks` cursor carries: the sort and order it belongs to, and the last row's (sort key, id). */
export interface TaskCursor {
  s: TaskSort;
  o: 'asc' | 'desc';
  /** The sort column's value of the last row, as `sortKeySql` wrote it. */
  k: string;
  id: string;
}

const MAX_BIGINT = 9223372036854775807n;
const RANGE: Record<Exclude<SortType, 'timestamptz'>, [bigint, bigint]> = {
  bigint: [-MAX_BIGINT - 1n, MAX_BIGINT],
  integer: [-2147483648n, 2147483647n],
  smallint: [-32768n, 32767n],
};
/** How `sortKeySql` writes a timestamp: UTC, to the microsecond, whatever the session's TimeZone and DateStyle. */
const TIMESTAMP_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * The sort column of `task` as the cursor's key text. A timestamp is written in one fixed format
 * (to_char in UTC) that `$n::timestamptz` reads back exactly, instead of `::text`, whose form
 * follows the session's DateStyle and TimeZone.
 */
export function sortKeySql(sort: TaskSort): string {
  const { column, type } = TASK_SORTS[sort];
  return type === 'timestamptz' ? `to_char(task.${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : `task.${column}::text`;
}

export function encodeTaskCursor(cursor: TaskCursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

/** The cursor of a previous page, checked so that a forged one is a 400 naming `cursor`, never an SQL error. */
export function decodeTaskCursor(text: string, sort: TaskSort, order: 'asc' | 'desc'): TaskCursor {
  const bad = () => validationFailed([{ field: 'cursor', message: 'cursor must be the nextCursor of a previous page with the same sort and order' }]);
  let cursor: Partial<TaskCursor>;
  try {
    cursor = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<TaskCursor>;
  } catch {
    throw bad();
  }
  if (typeof cursor !== 'object' || cursor === null || cursor.s !== sort || cursor.o !== order) throw bad();
  if (!isKey(cursor.k, TASK_SORTS[sort].type) || !isKey(cursor.id, 'bigint')) throw bad();
  return { s: sort, o: order, k: cursor.k, id: cursor.id };
}

function isKey(value: unknown, type: SortType): value is string {
  if (typeof value !== 'string') return false;
  if (type === 'timestamptz') {
    if (!TIMESTAMP_KEY.test(value)) return false;
    // Strict calendar: 2026-02-30 would be a database error, not a cursor.
    const date = new Date(`${value.slice(0, 23)}Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 23) === value.slice(0, 23);
  }
  if (!/^-?\d{1,19}$/.test(value)) return false;
  const [min, max] = RANGE[type];
  const n = BigInt(value);
  return n >= min && n <= max;
}
