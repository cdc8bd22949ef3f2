import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DATABASE_URL } from '../database/database.module.js';
import { MeteredTaskClaimer } from '../metrics/metered-task-claimer.js';
import { MeteredTaskFinisher } from '../metrics/metered-task-finisher.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { TaskClaimer } from './claim/task-claimer.js';
import { TaskFinisher } from './finish/task-finisher.js';
import { TaskRunner } from './run/task-runner.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { CancelListener } from './cancel-listener.js';
import { HandlerGuardModule } from './run/handler-guard.module.js';
import { WorkerService } from './worker.service.js';
import { WorkerSession } from './worker-session.js';

/** The worker role: runner, its session connection, the consumer and the cancel listener. */
@Module({
  imports: [TasksModule, MetricsModule, HandlerGuardModule],
  providers: [
    {
      provide: WorkerSession,
      inject: [AppConfig, DATABASE_URL],
      useFactory: (config: AppConfig, url: string) => new WorkerSession(url, config.dbSchema),
    },
    // The engine's claimer and finisher, measured for /metrics.
    { provide: TaskClaimer, useClass: MeteredTaskClaimer },
    { provide: TaskFinisher, useClass: MeteredTaskFinisher },
    TaskRunner,
    WorkerService,
    CancelListener,
  ],
  exports: [TaskRunner, WorkerService, WorkerSession],
})
export class WorkerModule {}
