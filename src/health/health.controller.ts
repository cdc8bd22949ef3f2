import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorFunction, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BrokerHealth } from '../broker/broker-health.js';
import { LATERZ_DATA_SOURCE } from '../database/database.module.js';
import { LiveResponse, ReadyResponse } from './health.dto.js';

/** Liveness (the process answers) and readiness (the database and the broker answer). */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly broker: BrokerHealth,
    @InjectDataSource(LATERZ_DATA_SOURCE) private readonly dataSource: DataSource,
  ) {}

  @Get('live')
  @ApiOkResponse({ type: LiveResponse, description: 'The process answers' })
  live(): LiveResponse {
    return { status: 'ok' };
  }

  @Get('ready')
  // Documented here: terminus's own documentation is left out when its optional require of @nestjs/swagger finds another copy (as under jest).
  @HealthCheck({ swaggerDocumentation: false, noCache: true })
  @ApiOkResponse({ type: ReadyResponse, description: 'Every check is up' })
  @ApiServiceUnavailableResponse({ type: ReadyResponse, description: 'A check is down (or the process is shutting down)' })
  ready() {
    const checks: HealthIndicatorFunction[] = [
      () => this.db.pingCheck('database', { connection: this.dataSource, timeout: 3000 }),
      () => this.broker.check('broker'),
    ];
    return this.health.check(checks);
  }
}
