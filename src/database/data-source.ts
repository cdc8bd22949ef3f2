import { DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { MIGRATIONS } from '../../migrations/index.js';

/** The entities a data source maps (the engine's are listed in src/entities.ts). */
export type EntityList = NonNullable<DataSourceOptions['entities']>;

/**
 * The one set of TypeORM options, used by the app, the migration runner and the TypeORM CLI.
 * Every connection gets `search_path = <schema>` so the hand-written SQL under `sql/` stays
 * unqualified and follows DB_SCHEMA.
 */
export function dataSourceOptions(
  config: AppConfig,
  url: string,
  { entities, poolSize = config.dbPoolSize }: { entities: EntityList; poolSize?: number },
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    schema: config.dbSchema,
    entities,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'all',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize,
    applicationName: 'laterz',
    // No JIT: every statement here is short, and compiling one took longer than running it (the
    // stats job at 1M rows: 818-954 ms with JIT, 268 ms without).
    extra: { options: `-c search_path=${config.dbSchema} -c jit=off`, max: poolSize },
  };
}
