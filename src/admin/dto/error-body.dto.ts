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
}
