// Runs outside Jest's module system (no TS transform, no moduleNameMapper), so it uses the
// compiled service from dist/ (`npm test` builds first).
import pg from 'pg';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig } from '../../dist/src/config/app-config.js';
import { scratchDatabaseName, scratchId, scratchSettings } from '../../dist/src/config/scratch-names.js';
import { EmbeddedPostgresServer } from '../../dist/src/database/embedded-postgres.js';
import { runMigrations } from '../../dist/src/database/migrate.js';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * One PostgreSQL for the whole run (DATABASE_URL's server, or one embedded server on
 * EMBEDDED_PG_PORT or a free port), and one migrated template database (`laterz_test_<run>_tpl`,
 * engine tables in DB_SCHEMA) that every test file clones into a database of its own
 * (`laterz_test_<run>_<id>`). The teardown drops every database and queue of the run.
 */
export default async function globalSetup() {
  const settings = scratchSettings(process.env);
  const run = scratchId(3);
  let url = process.env.DATABASE_URL;
  if (!url) {
    // mkdtemp makes it 0700: run as root, the server opens it to the account PostgreSQL runs as.
    const dataDir = mkdtempSync(join(tmpdir(), 'laterz-test-'));
    const port = settings.embeddedPgPort ?? (await freePort());
    const server = new EmbeddedPostgresServer({ dataDir, port });
    globalThis.__LATERZ_PG_DIR__ = dataDir;
    try {
      url = await server.start();
    } catch (err) {
      const which = settings.embeddedPgPort ? `EMBEDDED_PG_PORT=${port} (unset it for a free port)` : `port ${port}`;
      throw new Error(`the tests' embedded PostgreSQL did not start on ${which}: ${err.message}`, { cause: err });
    }
    globalThis.__LATERZ_PG__ = server;
    process.env.DATABASE_URL = url;
    console.log(`\n[tests] embedded PostgreSQL on port ${port} (set DATABASE_URL to use a server of your own)`);
  }
  const template = scratchDatabaseName('test', run, 'tpl');
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${template}`);
  } finally {
    await admin.end();
  }
  const templateUrl = new URL(url);
  templateUrl.pathname = `/${template}`;
  await runMigrations(AppConfig.fromEnv({ DATABASE_URL: templateUrl.toString(), DB_SCHEMA: settings.dbSchema }), templateUrl.toString());
  const queues = join(tmpdir(), `laterz-test-${run}-queues.txt`);
  writeFileSync(queues, '');
  process.env.LATERZ_TEST_RUN = run;
  process.env.LATERZ_TEST_TEMPLATE = template;
  process.env.LATERZ_TEST_SERVER_URL = url;
  process.env.LATERZ_TEST_QUEUES = queues;
}
