import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig, runMigrationChain } from '../../src/index.js';
import { PIPELINE_MIGRATIONS } from './migrations/index.js';
import { PIPELINE_ENTITIES } from './pipeline.entities.js';

/**
 * Advisory lock key held while the pipeline's migrations run: the engine's is (0x6c7a, 1); the
 * pipeline's instances starting together apply its migrations once under (0x6c7a, 2).
 */
export const PIPELINE_MIGRATION_LOCK: readonly [number, number] = [0x6c7a, 2];

/**
 * The pipeline's own TypeORM data source: its entities and its chain of migrations, recorded in
 * `pipeline_migrations` beside the engine's `migrations` table, in the same DB_SCHEMA (whose
 * search_path its hand-written SQL relies on, like the engine's).
 */
export function pipelineDataSourceOptions(config: AppConfig, url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    schema: config.dbSchema,
    entities: PIPELINE_ENTITIES,
    migrations: PIPELINE_MIGRATIONS,
    migrationsTableName: 'pipeline_migrations',
    migrationsTransactionMode: 'all',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize: 1,
    applicationName: 'laterz-pipeline-migrate',
    extra: { options: `-c search_path=${config.dbSchema}`, max: 1 },
  };
}

/**
 * Applies the pipeline's pending migrations (after the engine's: its schema exists by then) under
 * an advisory lock. Returns the names of the migrations it applied.
 */
export async function migratePipeline(config: AppConfig, url: string): Promise<string[]> {
  return runMigrationChain(url, PIPELINE_MIGRATION_LOCK, pipelineDataSourceOptions(config, url), 'laterz-pipeline-migrate');
}

/** The SQL TypeORM would run to bring the pipeline's tables in line with its entities; empty when they agree. */
export async function pipelineSchemaDiff(config: AppConfig, url: string): Promise<string[]> {
  const ds = new DataSource(pipelineDataSourceOptions(config, url));
  await ds.initialize();
  try {
    return (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
  } finally {
    await ds.destroy();
  }
}
