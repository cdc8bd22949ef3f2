import { DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from './admin/admin.module.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { BrokerModule } from './broker/broker.module.js';
import { CollectionsModule } from './collections/collections.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PipelineModule } from './pipeline/pipeline.module.js';
import { SchedulerModule } from './scheduler/scheduler.module.js';
import { StatsModule } from './stats/stats.module.js';
import { TasksModule } from './tasks/tasks.module.js';
import { WorkerModule } from './runner/worker.module.js';

/** The whole service; ROLES decides which of the role modules start. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, databaseUrl: string, extra: DynamicModule['imports'] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config),
        DatabaseModule.forRoot(databaseUrl),
        BrokerModule,
        TasksModule,
        CollectionsModule,
        HealthModule,
        StatsModule,
        ...(config.has('worker') ? [WorkerModule.forRoot({ observedBy: MetricsModule })] : []),
        ...(config.has('api') ? [AdminModule.forRoot(config)] : []),
        ...(config.has('scheduler') ? [SchedulerModule] : []),
        ...(config.pipelineEnabled ? [PipelineModule] : []),
        ...extra,
      ],
    };
  }
}
