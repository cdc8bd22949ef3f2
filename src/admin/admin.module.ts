import { DynamicModule, Inject, Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { Broker } from '../broker/broker.js';
import { ENGINE_BROKER } from '../broker/broker.module.js';
import { PostgresBroker } from '../broker/postgres.broker.js';
import { PG_POOL } from '../database/database.module.js';
import { ListenClient } from '../database/listen-client.js';
import { TaskMetrics } from '../metrics/task-metrics.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { EnqueueWriter } from '../tasks/enqueue-writer.js';
import { PublishOnCommit } from '../tasks/publish-on-commit.js';
import { TaskAdminService } from '../tasks/task-admin.service.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { TasksService } from '../tasks/tasks.service.js';
import { AdminPool, AdminPoolModule } from './admin-pool.js';
import { AdminTokens, resolveAdminTokens } from './admin-tokens.js';
import { AuditController } from './audit.controller.js';
import { AdminAuthGuard } from './auth.guard.js';
import { CollectionsAdmin } from './collections-admin.service.js';
import { CollectionsController } from './collections.controller.js';
import { MetricsController } from './metrics.controller.js';
import { QueuesController } from './queues.controller.js';
import { TaskActions } from './task-actions.service.js';
import { TaskQueries } from './task-queries.service.js';
import { TasksController } from './tasks.controller.js';

/**
 * The api role: the admin REST API, /metrics, and the guard that puts every route of the app
 * (but the health probes) behind a bearer token.
 */
@Module({})
export class AdminModule implements OnModuleInit {
  constructor(
    private readonly metrics: TaskMetrics,
    @Inject(Broker) private readonly broker: Broker,
  ) {}

  onModuleInit(): void {
    this.metrics.readDepthsFrom(this.broker);
  }

  /**
   * Resolves the tokens first (ADMIN_TOKENS, or the embedded mode's token file) and throws
   * AdminTokensMissing when there are none, before Nest builds anything.
   */
  static forRoot(config: AppConfig): DynamicModule {
    const tokens = resolveAdminTokens(config);
    return {
      module: AdminModule,
      imports: [TasksModule, MetricsModule, AdminPoolModule],
      controllers: [TasksController, QueuesController, CollectionsController, AuditController, MetricsController],
      providers: [
        { provide: AdminTokens, useValue: tokens },
        { provide: APP_GUARD, useClass: AdminAuthGuard },
        // Here PG_POOL is the admin pool (statement_timeout on every session): the providers below
        // get it, including this module's own instances of the engine's enqueue/retry service.
        { provide: PG_POOL, inject: [AdminPool], useFactory: (admin: AdminPool) => admin.pool },
        // And Broker is one on the admin pool when the transport is PostgreSQL (a publish is a
        // NOTIFY, a queue depth a count): the engine's own otherwise (RabbitMQ takes no pool).
        {
          provide: Broker,
          inject: [ENGINE_BROKER, AdminPool, AppConfig, ListenClient],
          useFactory: (engine: Broker, admin: AdminPool, config: AppConfig, listen: ListenClient): Broker =>
            engine.transport === 'postgres' ? new PostgresBroker(admin.pool, { listen, schema: config.dbSchema, pollMs: config.worker.pollMs }) : engine,
        },
        EnqueueWriter,
        PublishOnCommit,
        TasksService,
        TaskAdminService,
        TaskQueries,
        TaskActions,
        CollectionsAdmin,
        AuditService,
      ],
    };
  }
}
