import { DynamicModule, Module, Type } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DATABASE_URL } from '../database/database.module.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { CancelListener } from './cancel-listener.js';
import { TaskClaimer } from './claim/task-claimer.js';
import { TaskFinisher } from './finish/task-finisher.js';
import { IsolatePool } from './isolation/isolate-pool.js';
import { HandlerGuardModule } from './run/handler-guard.module.js';
import { TaskExecutor } from './run/task-executor.js';
import { TaskRunner } from './run/task-runner.js';
import { WorkerSession } from './worker-session.js';
import { WorkerSlots } from './worker-slots.js';
import { WorkerService } from './worker.service.js';

/** The worker role: the runner (claim, run, finish), its session connection, the consumer and the cancel listener. */
@Module({})
export class WorkerModule {
  /**
   * `observedBy`: a module that exports a RunnerObserver (the metrics): it is told of each claim and
   * finish. Without one the runner runs unobserved.
   */
  static forRoot(options: { observedBy?: Type<unknown> } = {}): DynamicModule {
    return {
      module: WorkerModule,
      imports: [TasksModule, HandlerGuardModule, ...(options.observedBy ? [options.observedBy] : [])],
      providers: [
        {
          provide: WorkerSession,
          inject: [AppConfig, DATABASE_URL],
          useFactory: (config: AppConfig, url: string) => new WorkerSession(url, config.dbSchema),
        },
        WorkerSlots,
        TaskClaimer,
        TaskFinisher,
        TaskExecutor,
        IsolatePool,
        TaskRunner,
        WorkerService,
        CancelListener,
      ],
      exports: [TaskRunner, WorkerService, WorkerSession],
    };
  }
}
