import { Controller, Get, Header, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { TaskMetrics } from '../metrics/task-metrics.js';
import { ApiGuarded } from './openapi.js';
import { NoParams } from './validation.pipe.js';

@ApiTags('metrics')
@ApiGuarded()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: TaskMetrics) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics of this process (a viewer token is enough)' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'The Prometheus text format, version 0.0.4', schema: { type: 'string', example: 'laterz_tasks_finished_total{func="digests.gather",status="success"} 12' } })
  scrape(@Query(NoParams) _query: unknown): Promise<string> {
    return this.metrics.scrape();
  }
}
