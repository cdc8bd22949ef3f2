import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, Matches, Max, Min } from 'class-validator';
import { JSON_VALUE_SCHEMA } from '../openapi.js';
import type { RetryOverride } from '../../tasks/retry-policy.js';
import { COLLECTION_NAME, DURATION, FUNC_NAME, IsDependencyMap, IsIsoDateTime, IsJsonValue, IsRetryOverride, OpaqueJson, Optional } from './validators.js';

/** Body of `POST /api/tasks`. */
export class EnqueueTaskBody {
  @ApiProperty({ description: 'A func name this service has a handler for, or one a worker has recorded in the database', example: 'digests.gather' })
  @Matches(FUNC_NAME, { message: 'func must be a func name: 1-200 letters, digits, _ . -' })
  func: string;

  @ApiPropertyOptional({ ...JSON_VALUE_SCHEMA, description: 'JSON arguments, any JSON value (the task identity is collection + func + args)', example: { blob: 'abc' } })
  @Optional()
  @OpaqueJson()
  @IsJsonValue()
  args?: unknown;

  @ApiPropertyOptional({ description: 'Collection (default: default)', example: 'default' })
  @Optional()
  @Matches(COLLECTION_NAME, { message: 'collection must be a collection name: 1-100 letters, digits, _ . -' })
  collection?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', description: 'Task id (decimal string)' },
    description: 'Named parents by task id: their results reach the handler under these names',
    example: { text: '41' },
  })
  @Optional()
  @OpaqueJson()
  @IsDependencyMap()
  dependsOn?: Record<string, string>;

  @ApiPropertyOptional({ description: 'Priority 0-9, higher first (default: the func priority)', minimum: 0, maximum: 9 })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(9)
  priority?: number;

  @ApiPropertyOptional({ description: 'Not before this time (ISO 8601)' })
  @Optional()
  @IsIsoDateTime()
  runAfter?: string;

  @ApiPropertyOptional({ description: 'Not started by this time (ISO 8601): it ends broken / expired and never runs' })
  @Optional()
  @IsIsoDateTime()
  expiresAt?: string;

  @ApiPropertyOptional({ description: 'Like expiresAt, this long after the enqueue: a duration like 90s, 10m, 2h', example: '10m' })
  @Optional()
  @Matches(DURATION, { message: 'expireIn must be a duration like 250ms, 90s, 10m, 2h, 1d' })
  expireIn?: string;

  @ApiPropertyOptional({ description: 'Hand it to the broker now (default true)' })
  @Optional()
  @IsBoolean()
  queueNow?: boolean;

  @ApiPropertyOptional({ description: 'Run it again even if it exists and has finished' })
  @Optional()
  @IsBoolean()
  retry?: boolean;

  @ApiPropertyOptional({
    type: 'object',
    properties: {
      attempts: { type: 'integer', minimum: 1, description: 'Runs in all, the first included' },
      backoff: { type: 'object', additionalProperties: true, description: "{ type: 'fixed' | 'linear' | 'exponential' | 'tiers', delay?, cap?, factor?, jitter? }; durations in ms or like '30s'" },
      retryOn: { type: 'array', items: { type: 'string' }, description: 'Error codes (else names) that retry; default: every error' },
      retryBroken: { type: 'array', items: { type: 'string' }, description: 'Broken reasons that retry' },
    },
    additionalProperties: false,
    description:
      "This task's retry policy, over its func's: attempts (runs in all), backoff ({ type: 'fixed' | 'linear' | 'exponential', delay, cap, factor, jitter } or { type: 'tiers' }), retryOn (error codes or names), retryBroken (broken reasons)",
    example: { attempts: 5, backoff: { type: 'exponential', delay: '2s', cap: '10m' } },
  })
  @Optional()
  @OpaqueJson()
  @IsRetryOverride()
  retryPolicy?: RetryOverride;
}
