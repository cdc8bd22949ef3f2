import { Controller, Get, Header, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TaskMetrics } from '../metrics/task-metrics.js';
import { NoParams } from './validation.pipe.js';

@ApiTags('metrics')
@ApiBearerAuth()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: TaskMetrics) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics of this process (a viewer token is enough)' })
  scrape(@Query(NoParams) _query: unknown): Promise<string> {
    return this.metrics.scrape();
  }
}
