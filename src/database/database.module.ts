import { DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions, type EntityList } from './data-source.js';
import { Db } from './db.js';
import { ListenClient } from './listen-client.js';

/** The resolved PostgreSQL URL (the configured one or the embedded server's). */
export const DATABASE_URL = Symbol('DATABASE_URL');

@Global()
@Module({})
export class DatabaseModule {
  /** The database at `url`, its TypeORM data source mapping `entities`. */
  static forRoot(url: string, entities: EntityList): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (config: AppConfig) => dataSourceOptions(config, url, { entities }),
        }),
      ],
      providers: [
        { provide: DATABASE_URL, useValue: url },
        // The pg Pool behind TypeORM: the hot SQL runs on it directly, with named prepared statements.
        { provide: Db, inject: [DataSource], useFactory: (ds: DataSource) => new Db((ds.driver as PostgresDriver).master as Pool) },
        // One LISTEN connection per process, opened by the first subscriber (the api role has none).
        { provide: ListenClient, inject: [DATABASE_URL], useFactory: (dbUrl: string) => new ListenClient({ url: dbUrl }) },
      ],
      exports: [DATABASE_URL, Db, ListenClient],
    };
  }
}
