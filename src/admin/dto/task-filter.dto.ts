import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsDefined, IsIn, IsInt, Matches, Max, MaxLength, Min, MinLength, ValidateIf } from 'class-validator';
import { CANCELLABLE_STATUSES, PURGEABLE_STATUSES, RETRYABLE_STATUSES, TaskStatus } from '../../tasks/task-status.js';
import { BROKEN_REASON, COLLECTION_NAME, FUNC_NAME, IsIsoDateTime, IsStorableText, Optional, toBool, toInt, toList } from './validators.js';

const TEN_YEARS_SECONDS = 10 * 366 * 86400;


/** The columns every filter shares; values become SQL parameters, never SQL. */
export abstract class FilterFields {
  @ApiPropertyOptional({ description: 'Collection name', example: 'default' })
  @Optional()
  @Matches(COLLECTION_NAME, { message: 'collection must be a collection name: 1-100 letters, digits, _ . -' })
  collection?: string;

  @ApiPropertyOptional({ description: 'Func name', example: 'digests.gather' })
  @Optional()
  @Matches(FUNC_NAME, { message: 'func must be a func name: 1-200 letters, digits, _ . -' })
  func?: string;

  @ApiPropertyOptional({ description: 'broken_reason, e.g. timeout, task_killed', example: 'timeout' })
  @Optional()
  @Matches(BROKEN_REASON, { message: 'brokenReason must be 1-100 letters, digits, _ . : -' })
  brokenReason?: string;

  @ApiPropertyOptional({ description: 'Text contained in the error message', example: 'ECONNRESET' })
  @Optional()
  @IsStorableText()
  @MinLength(1)
  @MaxLength(200)
  errorContains?: string;
}

/** The filter fields of a body, with the task's age. */
class AgedFilterFields extends FilterFields {
  @ApiPropertyOptional({ description: 'Last modified before this time (ISO 8601)', example: '2026-01-31T00:00:00Z' })
  @Optional()
  @IsIsoDateTime()
  modifiedBefore?: string;

  @ApiPropertyOptional({ description: 'Last modified at least this many seconds ago (by the database clock)', example: 3600 })
  @Optional()
  @IsInt({ message: 'olderThanSeconds must be a whole number of seconds' })
  @Min(0)
  @Max(TEN_YEARS_SECONDS)
  olderThanSeconds?: number;
}

/** Body of `POST /api/tasks/retry`. */
export class RetryByFilterBody extends AgedFilterFields {
  @ApiPropertyOptional({ description: 'Statuses to retry (default: error, broken)', enum: [...RETRYABLE_STATUSES], isArray: true })
  @Optional()
  @IsArray()
  @ArrayMaxSize(RETRYABLE_STATUSES.length)
  @IsIn(RETRYABLE_STATUSES, { each: true, message: `status must be a list of ${RETRYABLE_STATUSES.join(', ')}` })
  status?: TaskStatus[];

  @ApiPropertyOptional({ description: 'Only count what would be retried (default false)' })
  @Optional()
  @IsBoolean()
  dryRun?: boolean;

  @ApiPropertyOptional({ description: 'Also reset fail_count to 0 (default false)' })
  @Optional()
  @IsBoolean()
  resetFailCount?: boolean;
}

/** Body of `POST /api/tasks/cancel`. */
export class CancelByFilterBody extends AgedFilterFields {
  @ApiPropertyOptional({ description: 'Statuses to cancel (default: every unfinished one)', enum: [...CANCELLABLE_STATUSES], isArray: true })
  @Optional()
  @IsArray()
  @ArrayMaxSize(CANCELLABLE_STATUSES.length)
  @IsIn(CANCELLABLE_STATUSES, { each: true, message: `status must be a list of ${CANCELLABLE_STATUSES.join(', ')}` })
  status?: TaskStatus[];

  @ApiPropertyOptional({ description: 'Only count what would be cancelled (default false)' })
  @Optional()
  @IsBoolean()
  dryRun?: boolean;
}

/** Query of `DELETE /api/tasks`: a purge needs an age (modifiedBefore or olderThanSeconds). */
export class PurgeQuery extends FilterFields {
  @ApiPropertyOptional({ description: 'Statuses to purge (default: error, broken)', enum: [...PURGEABLE_STATUSES], isArray: true })
  @Optional()
  @Transform(toList)
  @IsArray()
  @ArrayMaxSize(PURGEABLE_STATUSES.length)
  @IsIn(PURGEABLE_STATUSES, { each: true, message: `status must be a list of ${PURGEABLE_STATUSES.join(', ')}` })
  status?: TaskStatus[];

  @ApiPropertyOptional({ description: 'Last modified before this time (ISO 8601); this or olderThanSeconds is required', example: '2026-01-31T00:00:00Z' })
  @ValidateIf((q: PurgeQuery) => q.olderThanSeconds === undefined || q.modifiedBefore !== undefined)
  @IsDefined({ message: 'modifiedBefore or olderThanSeconds is required: a purge only deletes tasks older than a date' })
  @IsIsoDateTime()
  modifiedBefore?: string;

  @ApiPropertyOptional({ description: 'Last modified at least this many seconds ago (by the database clock)', example: 86400 })
  @Optional()
  @Transform(toInt)
  @IsInt({ message: 'olderThanSeconds must be a whole number of seconds' })
  @Min(0)
  @Max(TEN_YEARS_SECONDS)
  olderThanSeconds?: number;

  @ApiPropertyOptional({ description: 'Only count what would be deleted', default: false })
  @Optional()
  @Transform(toBool)
  @IsBoolean()
  dryRun?: boolean;
}
