import { Client } from 'pg';
import { createTestDatabase } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

/*
 * `npm test` follows the user's DATABASE_URL, DB_SCHEMA and AMQP_PREFIX (docs/scratch-resources.md: "What the tests,
 * benchmarks and chaos suite create"). Run with DB_SCHEMA / AMQP_PREFIX set to see it follow them.
 */
const schema = process.env.DB_SCHEMA || 'laterz';
const amqpPrefix = process.env.AMQP_PREFIX || 'laterz';
const AMQP_URL = process.env.AMQP_URL;

describe("the test suite follows the user's settings", () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('creates its databases on the DATABASE_URL server as laterz_test_<run>_<id>, migrated into DB_SCHEMA', async () => {
    const db = await createTestDatabase();
    try {
      const url = new URL(db.url);
      const server = new URL(process.env.DATABASE_URL!);
      expect(url.host).toBe(server.host);
      expect(url.pathname).toMatch(/^\/laterz_test_[0-9a-f]+_[0-9a-f]+$/);
      const c = new Client({ connectionString: db.url });
      await c.connect();
      try {
        const { rows } = await c.query(`SELECT table_schema FROM information_schema.tables WHERE table_name = 'task' AND table_type = 'BASE TABLE'`);
        expect(rows).toEqual([{ table_schema: schema }]);
      } finally {
        await c.end();
      }
    } finally {
      await db.drop();
    }
  });

  it('runs its apps on DB_SCHEMA', async () => {
    app = await startTestApp();
    expect(app.config.dbSchema).toBe(schema);
    const { rows } = await app.db.query(`SELECT count(*)::int AS n FROM task`);
    expect(rows).toEqual([{ n: 0 }]);
  });

  (AMQP_URL ? it : it.skip)("puts an app's queues under AMQP_PREFIX, never on the service's own queue names", async () => {
    app = await startTestApp({ env: { AMQP_URL } });
    expect(app.config.amqp.url).toBe(AMQP_URL);
    expect(app.config.amqp.prefix.startsWith(`${amqpPrefix}.test-`)).toBe(true);
  });
});
