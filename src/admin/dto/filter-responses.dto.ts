import { ApiProperty } from '@nestjs/swagger';

// What the mutations by filter answer: a dry run's count, or what the call changed. Each changes
// at most ADMIN_MAX_ROWS_PER_CALL tasks (`limit`); call again while `remaining` is above 0.

/** `dryRun: true` of retry, cancel and purge by filter: nothing changed. */
export class DryRunResponse {
  @ApiProperty({ enum: [true] }) dryRun: boolean;
  @ApiProperty({ type: 'integer', description: 'Tasks the filter selects' }) matching: number;
  @ApiProperty({ type: 'integer', description: 'Tasks one call would change (at most limit)' }) wouldChange: number;
  @ApiProperty({ type: 'integer', description: 'ADMIN_MAX_ROWS_PER_CALL' }) limit: number;
}

/** `POST /api/tasks/retry`. */
export class RetryByFilterResponse {
  @ApiProperty({ type: 'integer', description: 'Tasks reset to run again' }) reset: number;
  @ApiProperty({ type: 'integer', description: 'Of those, handed to the broker now (the dispatcher queues the rest)' }) queued: number;
  @ApiProperty({ type: 'integer', description: 'Tasks the filter still selects' }) remaining: number;
  @ApiProperty({ type: 'integer' }) limit: number;
}

/** `POST /api/tasks/cancel`. */
export class CancelByFilterResponse {
  @ApiProperty({ type: 'integer' }) cancelled: number;
  @ApiProperty({ type: 'integer' }) remaining: number;
  @ApiProperty({ type: 'integer' }) limit: number;
}

/** `DELETE /api/tasks`. */
export class PurgeResponse {
  @ApiProperty({ type: 'integer' }) deleted: number;
  @ApiProperty({ type: 'integer' }) remaining: number;
  @ApiProperty({ type: 'integer' }) limit: number;
}
