import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';
import { Optional } from './validators.js';

/** Body of `POST /api/tasks/:id/retry` (optional). */
export class RetryOneBody {
  @ApiPropertyOptional({ description: 'Also reset fail_count to 0 (default false)' })
  @Optional()
  @IsBoolean()
  resetFailCount?: boolean;
}
