import { Module } from '@nestjs/common';
import { HandlerGuardModule } from '../runner/run/handler-guard.module.js';
import { RunnerObserver } from '../runner/runner-observer.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { TaskMetrics } from './task-metrics.js';

/**
 * The process's Prometheus registry. The worker's runner reports to it as its RunnerObserver, the
 * cron jobs through `observeJob`, and the admin API serves it on `/metrics`; a static module, so
 * one instance.
 */
@Module({
  imports: [TasksModule, HandlerGuardModule],
  providers: [TaskMetrics, { provide: RunnerObserver, useExisting: TaskMetrics }],
  exports: [TaskMetrics, RunnerObserver],
})
export class MetricsModule {}
