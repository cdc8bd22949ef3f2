import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { PIPELINE_MIGRATION_LOCK, migratePipeline, pipelineSchemaDiff } from '../../examples/pipeline/pipeline-schema.js';
import { Pipeline1763790000001 } from '../../examples/pipeline/migrations/1763790000001-pipeline.js';
import { EngineSchema1763790000000 } from '../../migrations/1763790000000-engine-schema.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { TaskKey1763790000002 } from '../../migrations/1763790000002-task-key.js';
import { CollectionPaused1763790000003 } from '../../migrations/1763790000003-collection-paused.js';
import { schemaDiff } from '../../src/cli/schema-diff.js';
import { AppConfig } from '../../src/config/app-config.js';
import { dataSourceOptions } from '../../src/database/data-source.js';
import { ENGINE_ENTITIES } from '../../src/entities.js';
import { runMigrations } from '../../src/database/migrate.js';
import { createTestDatabase } from '../helpers/databases.js';
import { createEmptyDatabase } from '../helpers/empty-database.js';
import { userSettings } from '../helpers/scratch.js';

const schema = userSettings.dbSchema;
const configFor = (url: string) => AppConfig.fromEnv({ DATABASE_URL: url, DB_SCHEMA: schema });
const PIPELINE_TABLES = ['blob', 'blob_text', 'file', 'search_document'];

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

const tablesIn = async (url: string) =>
  (await query<{ t: string }>(url, `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY 1`)).map((r) => r.t);

describe('the pipeline schema (its own migrations, apart from the engine)', () => {
  it('a fresh database: the engine makes no pipeline table; the pipeline chain makes them once, with no drift', async () => {
    const db = await createTestDatabase();
    try {
      const config = configFor(db.url);
      expect(await tablesIn(db.url)).not.toEqual(expect.arrayContaining(['blob']));
      // Two instances booting together: one applies the chain under the lock, the other finds nothing left.
      const [first, second] = await Promise.all([migratePipeline(config, db.url), migratePipeline(config, db.url)]);
      expect([first, second].sort((a, b) => b.length - a.length)).toEqual([['Pipeline1763790000001'], []]);
      expect(await tablesIn(db.url)).toEqual(expect.arrayContaining([...PIPELINE_TABLES, 'pipeline_migrations']));
      expect((await query<{ name: string }>(db.url, `SELECT name FROM ${schema}.pipeline_migrations`)).map((r) => r.name)).toEqual(['Pipeline1763790000001']);
      expect(await pipelineSchemaDiff(config, db.url)).toEqual([]);
      expect(await schemaDiff(config, db.url)).toEqual([]);
      expect(await migratePipeline(config, db.url)).toEqual([]);
      const locks = await query<{ n: number }>(
        db.url,
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE locktype = 'advisory' AND classid = ${PIPELINE_MIGRATION_LOCK[0]} AND objid = ${PIPELINE_MIGRATION_LOCK[1]} AND objsubid = 2
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(locks[0].n).toBe(0);
      // And the drift check can fail: a lost index shows.
      await query(db.url, `DROP INDEX ${schema}.file_dir_idx`);
      expect((await pipelineSchemaDiff(config, db.url)).join('\n')).toContain('file_dir_idx');
    } finally {
      await db.drop();
    }
  });

  it('a database migrated before the move (the pipeline migration in the engine chain) keeps its tables and rows', async () => {
    const db = await createEmptyDatabase();
    try {
      const config = configFor(db.url);
      // The engine chain as it was: the pipeline's tables made by the engine, recorded in its `migrations`.
      await query(db.url, `CREATE SCHEMA ${schema}`);
      const old = new DataSource({
        ...dataSourceOptions(config, db.url, { entities: ENGINE_ENTITIES, poolSize: 2 }),
        migrations: [EngineSchema1763790000000, Pipeline1763790000001, TaskKey1763790000002, CollectionPaused1763790000003],
      });
      await old.initialize();
      try {
        await old.runMigrations({ transaction: 'all' });
      } finally {
        await old.destroy();
      }
      await query(db.url, `INSERT INTO ${schema}.blob (sha256, size, mime, first_path) VALUES (repeat('a', 64), 3, 'text/plain', 'a.txt')`);

      // Today's boot: the engine applies only what came after the move (funcs, claim by func, and later
      // ones); the pipeline's chain finds its tables and records them.
      const after = MIGRATIONS.map((m) => m.name).filter((name) => Number(name.slice(-13)) > 1763790000003);
      expect(after.slice(0, 2)).toEqual(['Funcs1763790000004', 'ClaimByFunc1763790000005']);
      expect(await runMigrations(config, db.url)).toEqual(after);
      expect(await migratePipeline(config, db.url)).toEqual(['Pipeline1763790000001']);
      expect(await query(db.url, `SELECT first_path FROM ${schema}.blob`)).toEqual([{ first_path: 'a.txt' }]);
      expect(await pipelineSchemaDiff(config, db.url)).toEqual([]);
      expect(await schemaDiff(config, db.url)).toEqual([]);
      expect(await migratePipeline(config, db.url)).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});
