import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsDefined, ValidateIf } from 'class-validator';
import { Optional } from './validators.js';

/** Body of `PATCH /api/collections/:name`: at least one flag. */
export class UpdateCollectionBody {
  @ApiPropertyOptional({ description: "Run this collection's tasks at all" })
  @ValidateIf((b: UpdateCollectionBody) => b.sync === undefined || b.process !== undefined)
  @IsDefined({ message: 'process or sync is required' })
  @IsBoolean({ message: 'process must be true or false' })
  process?: boolean;

  @ApiPropertyOptional({ description: 'Re-run its periodic tasks' })
  @Optional()
  @IsBoolean({ message: 'sync must be true or false' })
  sync?: boolean;
}
