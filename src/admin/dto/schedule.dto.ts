import { ApiProperty } from '@nestjs/swagger';
import { TaskStatus } from '../../tasks/task-status.js';
import { IsIsoDateTime } from './validators.js';

/** Body of `PATCH /api/tasks/:id/run-after`. */
export class RescheduleBody {
  @ApiProperty({ description: 'When the task runs (ISO 8601); a time already past runs it at once', example: '2026-12-03T18:00:00Z' })
  @IsIsoDateTime()
  runAfter: string;
}

/** A waiting task with its new time. */
export class RescheduledResponse {
  @ApiProperty({ description: 'Task id (decimal string)', example: '42' }) id: string;
  @ApiProperty() collection: string;
  @ApiProperty() func: string;
  @ApiProperty({ enum: TaskStatus, enumName: 'TaskStatus' }) status: TaskStatus;
  @ApiProperty({ type: String, format: 'date-time' }) runAfter: Date;
}

/** A waiting task removed. */
export class RemovedResponse {
  @ApiProperty({ description: 'Task id (decimal string)', example: '42' }) id: string;
  @ApiProperty() collection: string;
  @ApiProperty() func: string;
  @ApiProperty({ description: 'Always true' }) removed: boolean;
}
