import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../../config/app-config.js';
import { scheduleInterval } from '../scheduler.js';
import { StatsService } from './stats.service.js';

/** Saves collection statistics every STATS_INTERVAL_SECONDS. */
@Injectable()
export class StatsCron implements OnApplicationBootstrap {
  private readonly logger = new Logger(StatsCron.name);

  constructor(
    private readonly stats: StatsService,
    private readonly schedule: SchedulerRegistry,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    scheduleInterval(this.schedule, 'stats', this.config.scheduler.statsIntervalMs, () => this.stats.runOnce(), this.logger);
  }
}
