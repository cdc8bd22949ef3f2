import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source.js';

/** Advisory lock key (two-int form, class 0x6c7a = "lz") held while migrations run. */
export const MIGRATION_LOCK: readonly [number, number] = [0x6c7a, 1];

/**
 * Creates the schema and applies pending migrations, under a session advisory lock so that
 * instances starting together apply them once. Returns the names of the migrations it applied.
 */
export async function runMigrations(config: AppConfig, url: string): Promise<string[]> {
  const lock = new Client({ connectionString: url, application_name: 'laterz-migrate' });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
    await lock.query(`CREATE SCHEMA IF NOT EXISTS "${config.dbSchema}"`);
    const ds = new DataSource(dataSourceOptions(config, url, { entities: [], poolSize: 2 })); // migrations map no entity
    await ds.initialize();
    try {
      const applied = await ds.runMigrations({ transaction: 'all' });
      return applied.map((m) => m.name);
    } finally {
      await ds.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}
