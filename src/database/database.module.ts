import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { AppConfig } from '../config/app-config.js';
import { LaterzSetup } from '../config/laterz-options.js';
import { dataSourceOptions, type EntityList } from './data-source.js';
import { Db } from './db.js';
import { LaterzDatabase } from './laterz-database.js';
import { ListenClient } from './listen-client.js';

/** The resolved PostgreSQL URL (the configured one or the embedded server's). */
export const DATABASE_URL = Symbol('DATABASE_URL');
/**
 * The name of laterz's TypeORM data source (`@InjectDataSource(LATERZ_DATA_SOURCE)`,
 * `@InjectRepository(Entity, LATERZ_DATA_SOURCE)`): named, so that an app's own default data
 * source and laterz's live side by side.
 */
export const LATERZ_DATA_SOURCE = 'laterz';

@Global()
@Module({})
export class DatabaseModule {
  /**
   * laterz's database (`database`: opened by the caller, who stops it should the app fail to start;
   * without it, from the LaterzSetup), its TypeORM data source mapping `entities`.
   */
  static forRoot(entities: EntityList, database?: LaterzDatabase): DynamicModule {
    const opened: Provider = database
      ? { provide: LaterzDatabase, useValue: database }
      : { provide: LaterzDatabase, inject: [LaterzSetup], useFactory: (s: LaterzSetup) => new LaterzDatabase(s.config, { migrate: s.migrate }) };
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          name: LATERZ_DATA_SOURCE,
          // DATABASE_URL resolves once the database is up and migrated: nothing opens a pool before.
          inject: [AppConfig, DATABASE_URL],
          useFactory: (config: AppConfig, url: string) => dataSourceOptions(config, url, { entities }),
        }),
      ],
      providers: [
        opened,
        { provide: DATABASE_URL, inject: [LaterzDatabase], useFactory: (db: LaterzDatabase) => db.open() },
        // The pg Pool behind TypeORM: the hot SQL runs on it directly, with named prepared statements.
        {
          provide: Db,
          inject: [getDataSourceToken(LATERZ_DATA_SOURCE)],
          useFactory: (ds: DataSource) => new Db((ds.driver as PostgresDriver).master as Pool),
        },
        // One LISTEN connection per process, opened by the first subscriber (the api role has none).
        { provide: ListenClient, inject: [DATABASE_URL], useFactory: (dbUrl: string) => new ListenClient({ url: dbUrl }) },
      ],
      exports: [DATABASE_URL, Db, ListenClient, LaterzDatabase],
    };
  }
}
