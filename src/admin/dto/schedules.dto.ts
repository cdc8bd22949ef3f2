import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsObject, IsString, Length, Matches } from 'class-validator';
import { COLLECTION_NAME, DURATION, FUNC_NAME, IsJsonValue, OpaqueJson, Optional } from './validators.js';

const SCHEDULE_NAME = /^[A-Za-z0-9_.:-]{1,200}$/;

/** Body of `POST /api/schedules`: a schedule added (or replaced, by name) at run time. */
export class CreateScheduleBody {
  @ApiProperty({ description: 'The schedule name: 1-200 letters, digits, _ . : -', example: 'nightly-digest' })
  @Matches(SCHEDULE_NAME, { message: 'name must be 1-200 letters, digits, _ . : -' })
  name: string;

  @ApiProperty({ description: 'The func each slot runs', example: 'digests.gather' })
  @Matches(FUNC_NAME, { message: 'func must be a func name: 1-200 letters, digits, _ . -' })
  func: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Args of each run (a JSON object; the slot is added as `slot`)', example: { blob: 'abc' } })
  @Optional()
  @OpaqueJson()
  @IsObject({ message: 'args must be a JSON object' })
  @IsJsonValue()
  args?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'Collection (default: default)', example: 'default' })
  @Optional()
  @Matches(COLLECTION_NAME, { message: 'collection must be a collection name: 1-100 letters, digits, _ . -' })
  collection?: string;

  @ApiPropertyOptional({ description: 'A cron expression (5 fields, or 6 with seconds first); give cron or every', example: '0 3 * * *' })
  @Optional()
  @IsString()
  @Length(1, 200)
  cron?: string;

  @ApiPropertyOptional({ description: "The cron's IANA time zone (default UTC)", example: 'Europe/Paris' })
  @Optional()
  @IsString()
  @Length(1, 100)
  tz?: string;

  @ApiPropertyOptional({ description: 'Every this long (at least 1s): slots at whole multiples since the epoch; give cron or every', example: '30s' })
  @Optional()
  @Matches(DURATION, { message: 'every must be a duration like 30s, 5m, 2h' })
  every?: string;

  @ApiPropertyOptional({ enum: ['once', 'skip'], description: 'Slots missed while no scheduler ran: one run for them all (once, default) or none (skip)' })
  @Optional()
  @IsIn(['once', 'skip'])
  missed?: 'once' | 'skip';
}

export class ScheduleNameParams {
  @ApiProperty({ description: 'Schedule name', example: 'nightly-digest' })
  @Matches(SCHEDULE_NAME, { message: 'name must be 1-200 letters, digits, _ . : -' })
  name: string;
}

const TIME_OR_NULL = { type: String, format: 'date-time', nullable: true } as const;

export class ScheduleResponse {
  @ApiProperty() name: string;
  @ApiProperty() func: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) args: Record<string, unknown>;
  @ApiProperty() collection: string;
  @ApiProperty({ type: String, nullable: true }) cron: string | null;
  @ApiProperty({ type: String, nullable: true }) tz: string | null;
  @ApiProperty({ type: 'integer', nullable: true, description: 'every, in milliseconds' }) everyMs: number | null;
  @ApiProperty({ enum: ['once', 'skip'] }) missed: 'once' | 'skip';
  @ApiProperty({ enum: ['handler', 'api'], description: 'handler: declared with @TaskHandler; api: added at run time' }) source: 'handler' | 'api';
  @ApiProperty({ type: String, format: 'date-time', description: 'The next slot to fire' }) nextRun: Date;
  @ApiProperty({ ...TIME_OR_NULL, description: 'The latest slot fired' }) lastRun: Date | null;
  @ApiProperty({ type: String, nullable: true, description: 'The task of the latest slot fired' }) lastTaskId: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) created: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updated: Date;
}

export class RemovedScheduleResponse {
  @ApiProperty() name: string;
  @ApiProperty({ enum: [true] }) removed: true;
}

export class ScheduleListResponse {
  @ApiProperty({ type: [ScheduleResponse] }) items: ScheduleResponse[];
}

/** Body of `POST /api/tasks/delete`: the task to delete, by identity. */
export class DeleteTaskBody {
  @ApiProperty({ description: 'Its func', example: 'digests.gather' })
  @Matches(FUNC_NAME, { message: 'func must be a func name: 1-200 letters, digits, _ . -' })
  func: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true, description: 'Its args, as enqueued (JSON; default null)' })
  @Optional()
  @OpaqueJson()
  @IsJsonValue()
  args?: unknown;

  @ApiPropertyOptional({ description: 'Collection (default: default)', example: 'default' })
  @Optional()
  @Matches(COLLECTION_NAME, { message: 'collection must be a collection name: 1-100 letters, digits, _ . -' })
  collection?: string;
}

export class DeletedTaskResponse {
  @ApiProperty({ description: 'Task id (decimal string)' }) id: string;
  @ApiProperty() collection: string;
  @ApiProperty() func: string;
  @ApiProperty({ description: 'The status it had' }) status: string;
}
