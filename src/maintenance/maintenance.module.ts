import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { BulkModule } from './bulk/bulk.module.js';
import { DispatcherCron } from './dispatch/dispatcher.cron.js';
import { DispatchModule } from './dispatch/dispatch.module.js';
import { BulkRunnerCron } from './bulk/bulk-runner.cron.js';
import { StatsCron } from './stats/stats.cron.js';
import { StatsModule } from './stats/stats.module.js';

/** The scheduler role: the dispatcher, bulk runner and stats jobs on their intervals. */
@Module({
  imports: [ScheduleModule.forRoot(), DispatchModule, BulkModule, StatsModule],
  providers: [DispatcherCron, BulkRunnerCron, StatsCron],
})
export class SchedulerModule {}
