import { Module, Provider, Type } from '@nestjs/common';
import { Pool } from 'pg';
import { PipelineModule } from '../../examples/pipeline/pipeline.module.js';
import { AmqpTopology } from '../../src/broker/amqp/topology.js';
import { bootstrap, Running } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { EnvSchema } from '../../src/config/env.schema.js';
import { TaskRegistry } from '../../src/tasks/task-registry.js';
import { createTestDatabase } from './databases.js';
import { recordQueues, testAmqpPrefix, userSettings } from './scratch.js';

/**
 * Tokens every test app accepts: with DATABASE_URL set, the api role refuses to start without
 * ADMIN_TOKENS. Also in LATERZ_TEST_OPERATOR_TOKEN / LATERZ_TEST_VIEWER_TOKEN for tests that read those.
 */
export const TEST_TOKENS = {
  operator: (process.env.LATERZ_TEST_OPERATOR_TOKEN ??= 'test-operator-token-0123456789'),
  viewer: (process.env.LATERZ_TEST_VIEWER_TOKEN ??= 'test-viewer-token-0123456789'),
};

export interface TestApp extends Running {
  /** A pool on the test database for assertions and factories. */
  db: Pool;
  get<T>(type: Type<T>): T;
  close(): Promise<void>;
}

/**
 * The whole service on a fresh database of its own, with the given handler providers.
 * `database` reuses one (several apps on one database: workers racing). The engine's tables are in
 * the user's DB_SCHEMA; on RabbitMQ, the app's queues are under `<AMQP_PREFIX>.test-<run>-<db id>`
 * (unless `env` names a prefix), recorded for the global teardown to delete.
 */
export async function startTestApp(options: {
  handlers?: Provider[];
  env?: Partial<Record<keyof EnvSchema, string>>;
  database?: { url: string; drop?: () => Promise<void> };
} = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  @Module({ providers: options.handlers ?? [], exports: [] })
  class TestHandlersModule {}
  const config = AppConfig.fromEnv({
    DATABASE_URL: database.url,
    DB_SCHEMA: userSettings.dbSchema,
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    LOG_FORMAT: 'json',
    WORKER_POLL_MS: '200',
    SHUTDOWN_GRACE_SECONDS: '5',
    // Tests drive the cron jobs through runOnce(); the timers stay out of the way.
    DISPATCH_INTERVAL_SECONDS: '86400',
    DUE_SCAN_INTERVAL_MS: '86400000',
    BULK_INTERVAL_SECONDS: '86400',
    STATS_INTERVAL_SECONDS: '86400',
    PERIODIC_INTERVAL_MS: '3600000',
    EXPIRY_INTERVAL_SECONDS: '86400',
    // The reference pipeline (and its demo collection) only where a test asks for it.
    PIPELINE_ENABLED: 'false',
    AMQP_URL: process.env.TEST_AMQP === '1' ? process.env.AMQP_URL : undefined,
    AMQP_PREFIX: testAmqpPrefix(database.url),
    ADMIN_TOKENS: `operator:${TEST_TOKENS.operator},viewer:${TEST_TOKENS.viewer}`,
    ...options.env,
  });
  // The reference pipeline comes in as the service's main.ts passes it: an app module beside the engine.
  const pipeline = config.pipelineEnabled ? [PipelineModule.forRoot(config)] : [];
  const running = await bootstrap(config, { handleSignals: false, imports: [TestHandlersModule, ...pipeline] });
  if (config.amqp.url) {
    const topology = new AmqpTopology(config.amqp);
    const funcs = running.app.get(TaskRegistry, { strict: false }).all();
    const deadLetter = topology.quorum ? [topology.deadLetterName] : [];
    recordQueues([...funcs.map((f) => topology.queueName({ func: f.name, queue: f.queue })), ...deadLetter], deadLetter);
  }
  const db = new Pool({ connectionString: database.url, max: 4, options: `-c search_path=${config.dbSchema}` });
  // An idle client killed by a fault-injection test must not crash the test process.
  db.on('error', () => undefined);
  return {
    ...running,
    db,
    get: <T>(type: Type<T>) => running.app.get(type, { strict: false }),
    close: async () => {
      await running.shutdown();
      await db.end();
      if (!options.database) await database.drop?.();
    },
  };
}
