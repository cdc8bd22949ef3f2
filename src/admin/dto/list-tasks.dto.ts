import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsEnum, IsIn, IsInt, Matches, Max, MaxLength, Min } from 'class-validator';
import { TaskStatus, TASK_STATUSES } from '../../tasks/task-status.js';
import { FilterFields } from './task-filter.dto.js';
import { IsIsoDateTime, Optional, toBool, toInt, toList } from './validators.js';

/** PostgreSQL types of the sortable columns: the cursor's key is read back as the column's own type. */
export type SortType = 'bigint' | 'integer' | 'smallint' | 'timestamptz';

/**
 * Sortable columns: the request names a key, the SQL gets the column from this table only. Each is
 * NOT NULL (the keyset (column, id) has no place for NULLs; the pagination test checks it).
 */
export const TASK_SORTS = {
  id: { column: 'id', type: 'bigint' },
  dateCreated: { column: 'date_created', type: 'timestamptz' },
  dateModified: { column: 'date_modified', type: 'timestamptz' },
  priority: { column: 'priority', type: 'smallint' },
  failCount: { column: 'fail_count', type: 'integer' },
  attempt: { column: 'attempt', type: 'integer' },
} as const satisfies Record<string, { column: string; type: SortType }>;
export type TaskSort = keyof typeof TASK_SORTS;
export const MAX_PAGE = 100;

/** Query of `GET /api/tasks`. */
export class ListTasksQuery extends FilterFields {
  @ApiPropertyOptional({ description: 'Statuses (repeat the parameter or separate with commas)', enum: TaskStatus, isArray: true })
  @Optional()
  @Transform(toList)
  @IsArray()
  @ArrayMaxSize(TASK_STATUSES.length)
  @IsEnum(TaskStatus, { each: true, message: `status must be a list of ${TASK_STATUSES.join(', ')}` })
  status?: TaskStatus[];

  @ApiPropertyOptional({ description: 'Only tasks finished at an older version of their func (true) or none of those (false)' })
  @Optional()
  @Transform(toBool)
  @IsBoolean({ message: 'outdated must be true or false' })
  outdated?: boolean;

  @ApiPropertyOptional({ description: 'Last modified before this time (ISO 8601)' })
  @Optional()
  @IsIsoDateTime()
  modifiedBefore?: string;

  @ApiPropertyOptional({ description: 'Sort key', enum: Object.keys(TASK_SORTS), default: 'id' })
  @Optional()
  @IsIn(Object.keys(TASK_SORTS), { message: `sort must be one of ${Object.keys(TASK_SORTS).join(', ')}` })
  sort: TaskSort = 'id';

  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'desc' })
  @Optional()
  @IsIn(['asc', 'desc'], { message: 'order must be asc or desc' })
  order: 'asc' | 'desc' = 'desc';

  @ApiPropertyOptional({ description: `Page size, 1-${MAX_PAGE}`, default: 50 })
  @Optional()
  @Transform(toInt)
  @IsInt({ message: `limit must be a whole number from 1 to ${MAX_PAGE}` })
  @Min(1)
  @Max(MAX_PAGE)
  limit = 50;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @Optional()
  @MaxLength(300)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be the nextCursor of a previous page' })
  cursor?: string;
}
