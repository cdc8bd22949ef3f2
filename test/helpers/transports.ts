import amqplib from 'amqplib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export type Transport = 'postgres' | 'amqp';

/** The transports a test file runs on: PostgreSQL always, RabbitMQ when AMQP_URL is set. */
export const TRANSPORTS: Transport[] = process.env.AMQP_URL ? ['postgres', 'amqp'] : ['postgres'];

/** Logs once per file that the RabbitMQ half of its tests is skipped. */
export function noteSkippedAmqp(what: string): void {
  if (!process.env.AMQP_URL) console.log(`${what} on RabbitMQ skipped: AMQP_URL is not set`);
}

/** The settings that pick a transport: RabbitMQ with a queue prefix of the test's own, or none. */
export function transportEnv(transport: Transport, prefix: string): { AMQP_URL?: string; AMQP_PREFIX?: string } {
  return transport === 'amqp' ? { AMQP_URL: process.env.AMQP_URL, AMQP_PREFIX: prefix } : { AMQP_URL: undefined };
}

/**
 * Deletes every queue whose name starts with `<prefix>.` (a worker process declares the queues of
 * all the funcs it serves, not only the test's). Lists them with rabbitmqctl, as the broker tests do.
 */
export async function deleteQueues(prefix: string): Promise<void> {
  if (!process.env.AMQP_URL) return;
  const { stdout } = await promisify(execFile)('rabbitmqctl', ['list_queues', 'name', '--formatter', 'json', '-q'], { timeout: 120_000 });
  const names = (JSON.parse(stdout) as { name: string }[]).map((q) => q.name).filter((name) => name.startsWith(`${prefix}.`));
  if (names.length === 0) return;
  const connection = await amqplib.connect(process.env.AMQP_URL);
  try {
    const channel = await connection.createChannel();
    for (const name of names) await channel.deleteQueue(name);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
