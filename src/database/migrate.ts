import { Client } from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source.js';
import { EmbeddedPostgresServer } from './embedded-postgres.js';
import { ADVISORY_LOCK, ADVISORY_UNLOCK, createSchemaIfMissing } from './sql/migrate.sql.js';

/** Advisory lock key (two-int form, class 0x6c7a = "lz") held while migrations run. */
export const MIGRATION_LOCK: readonly [number, number] = [0x6c7a, 1];

/**
 * Creates the schema and applies pending migrations, under a session advisory lock so that
 * instances starting together apply them once. Returns the names of the migrations it applied.
 */
export async function runMigrations(config: AppConfig, url: string): Promise<string[]> {
  // Migrations map no entity.
  return runMigrationChain(url, MIGRATION_LOCK, dataSourceOptions(config, url, { entities: [], poolSize: 2 }), 'laterz-migrate', config.dbSchema);
}

/**
 * `laterz migrate`, `npm run migration:run`: applies pending migrations to DATABASE_URL, or to the
 * embedded server under DATA_DIR (started for it, stopped after). Returns the names it applied.
 */
export async function migrateConfigured(config: AppConfig): Promise<string[]> {
  const embedded = config.databaseUrl ? undefined : new EmbeddedPostgresServer({ dataDir: config.dataDir, port: config.embeddedPgPort });
  const url = config.databaseUrl ?? (await embedded!.start());
  try {
    return await runMigrations(config, url);
  } finally {
    await embedded?.stop();
  }
}

/**
 * Applies a chain of migrations (the data source's) under the session advisory lock `lock`, after
 * creating `schema` when one is named. Returns the names of the migrations it applied. An app with
 * a chain of its own (the pipeline example) runs it through here after the engine's.
 */
export async function runMigrationChain(
  url: string,
  lock: readonly [number, number],
  options: DataSourceOptions,
  applicationName: string,
  schema?: string,
): Promise<string[]> {
  const session = new Client({ connectionString: url, application_name: applicationName });
  await session.connect();
  try {
    await session.query(ADVISORY_LOCK.text, [...lock]);
    if (schema) await session.query(createSchemaIfMissing(session.escapeIdentifier(schema)).text);
    const ds = new DataSource(options);
    await ds.initialize();
    try {
      const applied = await ds.runMigrations({ transaction: 'all' });
      return applied.map((m) => m.name);
    } finally {
      await ds.destroy();
    }
  } finally {
    await session.query(ADVISORY_UNLOCK.text, [...lock]).catch(() => undefined);
    await session.end();
  }
}
