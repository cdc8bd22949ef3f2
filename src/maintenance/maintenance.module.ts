import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { MetricsModule } from '../metrics/metrics.module.js';
import { TaskMetrics } from '../metrics/task-metrics.js';
import { JOB_OBSERVER, type JobObserver } from './maintenance-job.js';
import { MaintenanceScheduler } from './scheduler.js';

/**
 * The scheduler role: runs every @MaintenanceJob() provider of the app on its interval. The jobs'
 * own modules (dispatch, bulk, stats) are imported by the app, not here; the job-duration metric
 * watches the runs through the JobObserver interface.
 */
@Module({
  imports: [ScheduleModule.forRoot(), DiscoveryModule, MetricsModule],
  providers: [MaintenanceScheduler, { provide: JOB_OBSERVER, useFactory: (metrics: TaskMetrics): JobObserver => metrics, inject: [TaskMetrics] }],
  exports: [MaintenanceScheduler],
})
export class MaintenanceModule {}
