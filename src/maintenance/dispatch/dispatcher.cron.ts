import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../../config/app-config.js';
import { scheduleInterval } from '../scheduler.js';
import { DispatcherService } from './dispatcher.service.js';

/** Runs the dispatcher every DISPATCH_INTERVAL_SECONDS. */
@Injectable()
export class DispatcherCron implements OnApplicationBootstrap {
  private readonly logger = new Logger(DispatcherCron.name);

  constructor(
    private readonly dispatcher: DispatcherService,
    private readonly schedule: SchedulerRegistry,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    scheduleInterval(this.schedule, 'dispatcher', this.config.scheduler.dispatchIntervalMs, () => this.dispatcher.runOnce(), this.logger);
  }
}
