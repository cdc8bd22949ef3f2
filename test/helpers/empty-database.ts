import { Client } from 'pg';
import { databaseUrl } from './databases.js';
import { testDatabaseName } from './scratch.js';

/** Runs `work` on a client of the test server's maintenance database. */
async function onServer<T>(work: (admin: Client) => Promise<T>): Promise<T> {
  const server = process.env.LATERZ_TEST_SERVER_URL;
  if (!server) throw new Error('run through jest: the global setup starts the test server');
  const admin = new Client({ connectionString: server });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

/** A brand-new database with nothing in it (not cloned from the migrated template): `laterz_test_<run>_e<id>`. */
export async function createEmptyDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = testDatabaseName('e');
  await onServer((admin) => admin.query(`CREATE DATABASE ${name}`));
  return {
    url: databaseUrl(process.env.LATERZ_TEST_SERVER_URL!, name),
    drop: () => onServer((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
