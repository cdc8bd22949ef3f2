import { Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DATABASE_URL } from '../database/database.module.js';
import { Db, type OwnedDb } from '../database/db.js';

/**
 * The admin API's own small pool. Its sessions start with `statement_timeout` =
 * ADMIN_STATEMENT_TIMEOUT_MS, so every statement behind the API (its reads, and the engine's
 * enqueue/retry called on its behalf) is cut off instead of holding a connection the workers need;
 * a request waits at most as long again for a free connection (then a 503, see the exception
 * filter), so a flood of slow requests is refused instead of queueing without end.
 * AdminModule hands it to the engine's services with each call (ADMIN_EXECUTOR); the pipeline's
 * search routes take it from AdminPoolModule.
 */
@Injectable()
export class AdminPool implements OnApplicationShutdown {
  private readonly logger = new Logger(AdminPool.name);
  readonly db: OwnedDb;

  constructor(config: AppConfig, @Inject(DATABASE_URL) url: string) {
    this.db = Db.open({
      url,
      max: Math.max(2, Math.floor(config.dbPoolSize / 2)),
      statementTimeoutMs: config.admin.statementTimeoutMs,
      connectionTimeoutMs: config.admin.statementTimeoutMs,
      idleInTransactionTimeoutMs: config.admin.statementTimeoutMs * 2,
      applicationName: 'laterz-admin',
      schema: config.dbSchema,
      onIdleError: (err) => this.logger.warn(`idle admin connection failed: ${err.message}`),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.end().catch(() => undefined);
  }
}

/**
 * The api role's Executor (tasks/executor.ts): the admin pool, and a broker that publishes on it
 * (PostgreSQL transport: a publish is a NOTIFY, a queue depth a count) or the engine's (RabbitMQ
 * takes no pool). Every engine call an API route makes passes it.
 */
export const ADMIN_EXECUTOR = Symbol('ADMIN_EXECUTOR');

/** One AdminPool per process, for every module that serves API routes. */
@Module({ providers: [AdminPool], exports: [AdminPool] })
export class AdminPoolModule {}
