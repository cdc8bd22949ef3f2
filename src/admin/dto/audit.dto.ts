import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, Matches, Max, Min } from 'class-validator';
import { MAX_PAGE } from './list-tasks.dto.js';
import { IsTaskId, Optional, toInt } from './validators.js';

/** Query of `GET /api/audit`. */
export class AuditQuery {
  @ApiPropertyOptional({ description: `Page size, 1-${MAX_PAGE}`, default: 50 })
  @Optional()
  @Transform(toInt)
  @IsInt({ message: `limit must be a whole number from 1 to ${MAX_PAGE}` })
  @Min(1)
  @Max(MAX_PAGE)
  limit = 50;

  @ApiPropertyOptional({ description: 'By id: desc is newest first', enum: ['asc', 'desc'], default: 'desc' })
  @Optional()
  @IsIn(['asc', 'desc'], { message: 'order must be asc or desc' })
  order: 'asc' | 'desc' = 'desc';

  @ApiPropertyOptional({ description: 'nextCursor of the previous page (same order)' })
  @Optional()
  @IsTaskId({ message: 'cursor must be the nextCursor of a previous page' })
  cursor?: string;

  @ApiPropertyOptional({ description: 'Only this action, e.g. task.retry' })
  @Optional()
  @Matches(/^[a-z][a-z.]{0,49}$/, { message: 'action must be an action name such as task.retry' })
  action?: string;
}
