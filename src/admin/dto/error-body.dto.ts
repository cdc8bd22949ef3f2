import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The one shape of every error the API answers (AdminExceptionFilter writes it). */
export class ErrorBody {
  @ApiProperty({ type: 'integer', example: 400 })
  statusCode: number;

  @ApiProperty({ description: "The status's name", example: 'Bad Request' })
  error: string;

  @ApiProperty({ description: 'What is wrong, naming each bad field', example: 'limit must not be greater than 100' })
  message: string;

  @ApiPropertyOptional({ description: 'The request fields at fault, when known', type: [String], example: ['limit'] })
  fields?: string[];

  @ApiPropertyOptional({ description: "429 QueueFull: the func's cap (maxQueued)", type: 'integer', example: 1000 })
  cap?: number;

  @ApiPropertyOptional({ description: '429 QueueFull: how many of its tasks wait now (pending, queued, deferred)', type: 'integer', example: 1000 })
  depth?: number;
}
