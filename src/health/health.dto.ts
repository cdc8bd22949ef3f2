import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger';

/** `GET /health/live`. */
export class LiveResponse {
  @ApiProperty({ enum: ['ok'] }) status: 'ok';
}

/** One check's result: its status and whatever else the indicator adds. */
const INDICATOR: SchemaObject = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string', enum: ['up', 'down'] } },
  additionalProperties: true,
};
const INDICATORS = { type: 'object' as const, additionalProperties: INDICATOR, example: { database: { status: 'up' }, broker: { status: 'up' } } };

/** `GET /health/ready` (terminus's report): 200 when every check is up, 503 otherwise. */
export class ReadyResponse {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'] }) status: string;
  @ApiPropertyOptional({ ...INDICATORS, nullable: true, description: 'The checks that are up' }) info?: Record<string, unknown>;
  @ApiPropertyOptional({ ...INDICATORS, nullable: true, description: 'The checks that are down' }) error?: Record<string, unknown>;
  @ApiProperty({ ...INDICATORS, description: 'Every check' }) details: Record<string, unknown>;
}
