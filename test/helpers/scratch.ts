import { appendFileSync } from 'node:fs';
import { scratchAmqpPrefix, scratchDatabaseName, scratchId, scratchSettings } from '../../src/config/scratch-names.js';

/*
 * What a test creates on the user's servers, named after the user's settings (docs/scratch-resources.md: "What the
 * tests, benchmarks and chaos suite create"): databases `laterz_test_<run>_<id>` on the
 * DATABASE_URL server, engine tables in DB_SCHEMA, queues `<AMQP_PREFIX>.test-<run>-<id>.*`.
 * The global setup picks the run id; its teardown drops the run's databases and queues.
 */

/** The user's AMQP_PREFIX, DB_SCHEMA and EMBEDDED_PG_PORT (validated as the service does). */
export const userSettings = scratchSettings(process.env);

function run(): string {
  const id = process.env.LATERZ_TEST_RUN;
  if (!id) throw new Error('run through jest: the global setup picks the test run id');
  return id;
}

/** A database name of this test run: `laterz_test_<run>_<kind><id>`. */
export function testDatabaseName(kind = ''): string {
  return scratchDatabaseName('test', run(), `${kind}${scratchId(6)}`);
}

/**
 * The AMQP prefix of a test: `<AMQP_PREFIX>.test-<run>-<id>`. Given a test database's URL, the id
 * is the database's own, so apps sharing a database share their queues (as they would in production).
 */
export function testAmqpPrefix(databaseUrl?: string): string {
  const id = databaseUrl ? new URL(databaseUrl).pathname.split('_').pop()! : scratchId(4);
  return scratchAmqpPrefix(userSettings.amqpPrefix, 'test', `${run()}-${id}`);
}

/** Notes queues (and exchanges) a test declares on the broker, for the global teardown to delete. */
export function recordQueues(names: readonly string[], exchanges: readonly string[] = []): void {
  const file = process.env.LATERZ_TEST_QUEUES;
  if (!file) throw new Error('run through jest: the global setup names the file of the run’s queues');
  const lines = [...names.map((n) => `queue ${n}`), ...exchanges.map((n) => `exchange ${n}`)];
  if (lines.length > 0) appendFileSync(file, `${lines.join('\n')}\n`);
}
