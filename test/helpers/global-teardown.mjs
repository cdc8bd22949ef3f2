import amqplib from 'amqplib';
import pg from 'pg';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { scratchDatabasePattern } from '../../dist/src/config/scratch-names.js';

/** Drops every database of the run (`laterz_test_<run>_*`: the template, and any a failed test file left). */
async function dropDatabases(url, run) {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [scratchDatabasePattern('test', run)]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    const left = rows.filter((r) => !r.datname.endsWith('_tpl'));
    if (left.length > 0) console.log(`[tests] dropped ${left.length} databases that test files left behind: ${left.map((r) => r.datname).join(', ')}`);
  } finally {
    await admin.end();
  }
}

/** Deletes the queues and exchanges the run's apps recorded (`<AMQP_PREFIX>.test-<run>-*`): RabbitMQ keeps durable queues. */
async function deleteQueues(file) {
  if (!existsSync(file)) return;
  const lines = [...new Set(readFileSync(file, 'utf8').split('\n').filter((l) => l !== ''))];
  if (lines.length > 0 && process.env.AMQP_URL) {
    const connection = await amqplib.connect(process.env.AMQP_URL);
    try {
      const channel = await connection.createChannel();
      for (const line of lines) {
        const [kind, name] = line.split(' ');
        if (kind === 'queue') await channel.deleteQueue(name);
        else await channel.deleteExchange(name);
      }
      await channel.close();
    } finally {
      await connection.close();
    }
  }
  rmSync(file, { force: true });
}

export default async function globalTeardown() {
  const url = process.env.LATERZ_TEST_SERVER_URL;
  const run = process.env.LATERZ_TEST_RUN;
  if (url && run) await dropDatabases(url, run).catch((err) => console.error(`[tests] could not drop the run's databases: ${err.message}`));
  if (process.env.LATERZ_TEST_QUEUES) await deleteQueues(process.env.LATERZ_TEST_QUEUES).catch((err) => console.error(`[tests] could not delete the run's queues: ${err.message}`));
  await globalThis.__LATERZ_PG__?.stop();
  // The embedded server's data (about 60 MB) is of this run only.
  if (globalThis.__LATERZ_PG_DIR__) rmSync(globalThis.__LATERZ_PG_DIR__, { recursive: true, force: true });
}
