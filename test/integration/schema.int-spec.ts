import { Client } from 'pg';
import { schemaDiff } from '../../src/cli/schema-diff.js';
import { AppConfig } from '../../src/config/app-config.js';
import { MIGRATION_LOCK, runMigrations } from '../../src/database/migrate.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { createTestDatabase } from '../helpers/databases.js';
import { createEmptyDatabase } from '../helpers/empty-database.js';
import { userSettings } from '../helpers/scratch.js';

/** The test databases' engine tables are in the user's DB_SCHEMA (laterz by default). */
const schema = userSettings.dbSchema;
const configFor = (url: string) => AppConfig.fromEnv({ DATABASE_URL: url, DB_SCHEMA: schema });

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('schema', () => {
  it('has no drift: the migrations build exactly what the entities describe', async () => {
    const db = await createTestDatabase();
    try {
      // TypeORM's schema builder lists what it would change; a migration generated now would be empty.
      expect(await schemaDiff(configFor(db.url), db.url)).toEqual([]);
      // And the check can fail: a schema that lost an index and a column shows both.
      await query(db.url, `DROP INDEX ${schema}.task_active_idx; ALTER TABLE ${schema}.collection DROP COLUMN sync`);
      const drift = (await schemaDiff(configFor(db.url), db.url)).join('\n');
      expect(drift).toContain('task_active_idx');
      expect(drift).toMatch(/ADD "sync"/);
    } finally {
      await db.drop();
    }
  });

  it('two instances migrating a fresh database at once apply each migration exactly once', async () => {
    const db = await createEmptyDatabase();
    try {
      const config = configFor(db.url);
      const [first, second] = await Promise.all([runMigrations(config, db.url), runMigrations(config, db.url)]);
      const names = MIGRATIONS.map((m) => m.name);
      // One of them applied everything under the advisory lock; the other found nothing left to do.
      expect([first, second].sort((a, b) => b.length - a.length)).toEqual([names, []]);
      const applied = await query<{ name: string }>(db.url, `SELECT name FROM ${schema}.migrations ORDER BY id`);
      expect(applied.map((r) => r.name)).toEqual(names);
      expect(await schemaDiff(config, db.url)).toEqual([]);
      // A later boot has nothing to apply either.
      expect(await runMigrations(config, db.url)).toEqual([]);
      // And neither left the migration lock behind (advisory locks are server-wide: look at this database only).
      const locks = await query<{ n: number }>(
        db.url,
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND classid = ${MIGRATION_LOCK[0]} AND objid = ${MIGRATION_LOCK[1]} AND objsubid = 2
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(locks[0].n).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it('follows DB_SCHEMA: another schema gets the same tables and no drift', async () => {
    const db = await createEmptyDatabase();
    try {
      const config = AppConfig.fromEnv({ DATABASE_URL: db.url, DB_SCHEMA: 'other_schema' });
      await runMigrations(config, db.url);
      const tables = await query<{ table_name: string }>(
        db.url,
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'other_schema' ORDER BY table_name`,
      );
      expect(tables.map((t) => t.table_name)).toEqual(
        expect.arrayContaining(['audit_log', 'collection', 'collection_stats', 'migrations', 'task', 'task_attempt', 'task_dependency']),
      );
      expect(await schemaDiff(config, db.url)).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});
