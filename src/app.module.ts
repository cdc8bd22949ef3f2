import { DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from './admin/admin.module.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { ENGINE_ENTITIES } from './entities.js';
import { BrokerModule } from './broker/broker.module.js';
import { CollectionsModule } from './collections/collections.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { BulkModule } from './maintenance/bulk/bulk.module.js';
import { DispatchModule } from './maintenance/dispatch/dispatch.module.js';
import { MaintenanceModule } from './maintenance/maintenance.module.js';
import { StatsModule } from './maintenance/stats/stats.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { TasksModule } from './tasks/tasks.module.js';
import { WorkerModule } from './runner/worker.module.js';

/** The engine; ROLES decides which of the role modules start, `extra` adds the app's own (handlers, routes). */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, databaseUrl: string, extra: DynamicModule['imports'] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config),
        DatabaseModule.forRoot(databaseUrl, ENGINE_ENTITIES),
        BrokerModule,
        TasksModule,
        CollectionsModule,
        HealthModule,
        StatsModule,
        ...(config.has('worker') ? [WorkerModule.forRoot({ observedBy: MetricsModule })] : []),
        ...(config.has('api') ? [AdminModule.forRoot(config)] : []),
        // The scheduler role: the maintenance scheduler and the jobs only it runs (stats, above, is
        // read by every role).
        ...(config.has('scheduler') ? [MaintenanceModule, DispatchModule, BulkModule] : []),
        ...extra,
      ],
    };
  }
}
