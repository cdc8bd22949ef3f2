import pg from 'pg';
import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const url = process.env.LATERZ_TEST_SERVER_URL;
  const template = process.env.LATERZ_TEST_TEMPLATE;
  if (url && template) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${template}`).catch(() => undefined);
    await admin.end();
  }
  await globalThis.__LATERZ_PG__?.stop();
  // The embedded server's data (about 60 MB) is of this run only.
  if (globalThis.__LATERZ_PG_DIR__) rmSync(globalThis.__LATERZ_PG_DIR__, { recursive: true, force: true });
}
