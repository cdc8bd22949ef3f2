import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { COLLECTION_NAME, IsTaskId } from './validators.js';

export class TaskIdParams {
  @ApiProperty({ description: 'Task id (decimal string)', example: '42' })
  @IsTaskId()
  id: string;
}

export class CollectionNameParams {
  @ApiProperty({ description: 'Collection name', example: 'default' })
  @Matches(COLLECTION_NAME, { message: 'name must be a collection name: 1-100 letters, digits, _ . -' })
  name: string;
}
