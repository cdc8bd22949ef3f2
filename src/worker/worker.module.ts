import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DATABASE_URL } from '../database/database.module.js';
import { TaskClaimer } from '../tasks/task-claimer.js';
import { TaskFinisher } from '../tasks/task-finisher.js';
import { TaskRunner } from '../tasks/task-runner.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { WorkerService } from './worker.service.js';
import { WorkerSession } from './worker-session.js';

/** The worker role: runner, its session connection and the consumer. */
@Module({
  imports: [TasksModule],
  providers: [
    {
      provide: WorkerSession,
      inject: [AppConfig, DATABASE_URL],
      useFactory: (config: AppConfig, url: string) => new WorkerSession(url, config.dbSchema),
    },
    TaskClaimer,
    TaskFinisher,
    TaskRunner,
    WorkerService,
  ],
  exports: [TaskRunner, WorkerService, WorkerSession],
})
export class WorkerModule {}
