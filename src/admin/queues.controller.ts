import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { QueuesResponse } from './dto/admin-responses.dto.js';
import { ApiGuarded } from './openapi.js';
import { TaskQueries } from './task-queries.service.js';
import { NoParams } from './validation.pipe.js';

@ApiTags('queues')
@ApiGuarded()
@Controller('api/queues')
export class QueuesController {
  constructor(private readonly queries: TaskQueries) {}

  @Get()
  @ApiOperation({ summary: 'Per func: its live servers, broker queue ready/unacked and database counts by status' })
  @ApiOkResponse({ type: QueuesResponse })
  list(@Query(NoParams) _query: unknown): Promise<QueuesResponse> {
    return this.queries.queues();
  }
}
