import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TaskQueries } from './task-queries.service.js';
import { NoParams } from './validation.pipe.js';

@ApiTags('queues')
@ApiBearerAuth()
@Controller('api/queues')
export class QueuesController {
  constructor(private readonly queries: TaskQueries) {}

  @Get()
  @ApiOperation({ summary: 'Per func: broker queue ready/unacked and database counts by status' })
  list(@Query(NoParams) _query: unknown) {
    return this.queries.queues();
  }
}
