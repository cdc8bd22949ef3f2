import { Module } from '@nestjs/common';
import { HandlerGuardModule } from '../runner/run/handler-guard.module.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { TaskMetrics } from './task-metrics.js';

/**
 * The process's Prometheus registry. Imported by the worker (claims, finishes), the cron jobs
 * (`observeJob`) and the admin API (which serves `/metrics`); a static module, so one instance.
 */
@Module({
  imports: [TasksModule, HandlerGuardModule],
  providers: [TaskMetrics],
  exports: [TaskMetrics],
})
export class MetricsModule {}
