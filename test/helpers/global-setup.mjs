// Runs outside Jest's module system (no TS transform, no moduleNameMapper), so it uses the
// compiled service from dist/ (`npm test` builds first).
import pg from 'pg';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig } from '../../dist/src/config/app-config.js';
import { EmbeddedPostgresServer } from '../../dist/src/database/embedded-postgres.js';
import { runMigrations } from '../../dist/src/database/migrate.js';

/**
 * One PostgreSQL for the whole run (DATABASE_URL, or one embedded server), and one migrated
 * template database that every test file clones into a database of its own.
 */
export default async function globalSetup() {
  let url = process.env.DATABASE_URL;
  if (!url) {
    // mkdtemp makes it 0700: run as root, the server opens it to the account PostgreSQL runs as.
    const dataDir = mkdtempSync(join(tmpdir(), 'laterz-test-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = new EmbeddedPostgresServer({ dataDir, port });
    url = await server.start();
    globalThis.__LATERZ_PG__ = server;
    globalThis.__LATERZ_PG_DIR__ = dataDir;
    process.env.DATABASE_URL = url;
    console.log(`\n[tests] embedded PostgreSQL on port ${port} (set DATABASE_URL to use a server of your own)`);
  }
  const template = `laterz_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${template}`);
    await admin.query(`CREATE DATABASE ${template}`);
  } finally {
    await admin.end();
  }
  const templateUrl = new URL(url);
  templateUrl.pathname = `/${template}`;
  await runMigrations(AppConfig.fromEnv({ DATABASE_URL: templateUrl.toString() }), templateUrl.toString());
  process.env.LATERZ_TEST_TEMPLATE = template;
  process.env.LATERZ_TEST_SERVER_URL = url;
}
