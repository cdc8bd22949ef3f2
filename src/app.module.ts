import { DynamicModule, Module } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from './config/app-config.js';
import { LATERZ_DATA_SOURCE } from './database/database.module.js';
import { LaterzDatabase } from './database/laterz-database.js';
import { LaterzModule } from './laterz.module.js';
import { LoggingModule } from './logging/logging.module.js';

/**
 * The service: LaterzModule with the roles of ROLES and the admin API at the root, pino's logs, and
 * `extra`, the app's own modules (handlers, routes). The database is the caller's `database`.
 */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, database: LaterzDatabase, extra: DynamicModule['imports'] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [LoggingModule.forRoot(config), LaterzModule.forService(config, database), ...extra],
      // In the service laterz's data source is the app's only one, also under TypeORM's default token.
      providers: [{ provide: DataSource, useExisting: getDataSourceToken(LATERZ_DATA_SOURCE) }],
    };
  }
}
