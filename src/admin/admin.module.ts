import { DynamicModule, Inject, Module, OnModuleInit, Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { Broker } from '../broker/broker.js';
import { PostgresBroker } from '../broker/postgres.broker.js';
import { ListenClient } from '../database/listen-client.js';
import { TaskMetrics } from '../metrics/task-metrics.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import type { Executor } from '../tasks/executor.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { ADMIN_EXECUTOR, AdminPool, AdminPoolModule } from './admin-pool.js';
import { adminControllers, AdminRoutesScope } from './admin-routes.js';
import { AdminTokens, resolveAdminTokens } from './admin-tokens.js';
import { AdminAuthGuard } from './auth.guard.js';
import { CollectionsAdmin } from './collections-admin.service.js';
import { SchedulesModule } from '../schedules/schedules.module.js';
import { SchedulesAdmin } from './schedules-admin.service.js';
import { TaskActions } from './task-actions.service.js';
import { TaskQueries } from './task-queries.service.js';

/**
 * The api role: the admin REST API, /metrics, and the guard that puts every route of the app
 * (but the health probes) behind a bearer token (in a user's app: the admin routes only). It uses the process's one engine (TasksModule)
 * and passes the admin pool with every call, so each API statement runs under its timeout.
 */
@Module({})
export class AdminModule implements OnModuleInit {
  constructor(
    private readonly metrics: TaskMetrics,
    @Inject(ADMIN_EXECUTOR) private readonly admin: Executor,
  ) {}

  onModuleInit(): void {
    this.metrics.readDepthsFrom(this.admin.broker);
  }

  /**
   * Given the `config`, resolves the tokens first (ADMIN_TOKENS, or the embedded mode's token file)
   * and throws AdminTokensMissing when there are none, before Nest builds anything; without it
   * (LaterzModule.forRootAsync), when Nest builds the module. `scope`: whose routes the token guard
   * and the API's pipe, filter and interceptor cover (admin-routes.ts).
   */
  static forRoot(options: { config?: AppConfig; scope: AdminRoutesScope }): DynamicModule {
    const tokens: Provider = options.config
      ? { provide: AdminTokens, useValue: resolveAdminTokens(options.config) }
      : { provide: AdminTokens, inject: [AppConfig], useFactory: (config: AppConfig) => resolveAdminTokens(config) };
    return {
      module: AdminModule,
      imports: [TasksModule, SchedulesModule, MetricsModule, AdminPoolModule],
      controllers: adminControllers(options.scope),
      providers: [
        tokens,
        ...(options.scope === 'app' ? [{ provide: APP_GUARD, useClass: AdminAuthGuard }] : []),
        {
          provide: ADMIN_EXECUTOR,
          inject: [Broker, AdminPool, AppConfig, ListenClient],
          useFactory: (engine: Broker, admin: AdminPool, config: AppConfig, listen: ListenClient): Executor => ({
            db: admin.db,
            // On the PostgreSQL transport a publish is a NOTIFY and a depth a count: on the admin pool.
            // It never consumes, so it opens no LISTEN connection.
            broker: engine.transport === 'postgres' ? new PostgresBroker(admin.db, { listen, schema: config.dbSchema, pollMs: config.worker.pollMs }) : engine,
          }),
        },
        { provide: AuditService, inject: [AdminPool], useFactory: (admin: AdminPool) => new AuditService(admin.db) },
        TaskQueries,
        TaskActions,
        CollectionsAdmin,
        SchedulesAdmin,
      ],
    };
  }
}
