import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../../config/app-config.js';
import { scheduleInterval } from '../scheduler.js';
import { BulkRunnerService } from './bulk-runner.service.js';

/** Runs the bulk runner every BULK_INTERVAL_SECONDS. */
@Injectable()
export class BulkRunnerCron implements OnApplicationBootstrap {
  private readonly logger = new Logger(BulkRunnerCron.name);

  constructor(
    private readonly bulk: BulkRunnerService,
    private readonly schedule: SchedulerRegistry,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    scheduleInterval(this.schedule, 'bulk-runner', this.config.scheduler.bulkIntervalMs, () => this.bulk.runOnce(), this.logger);
  }
}
