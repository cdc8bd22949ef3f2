import { DynamicModule, INestApplicationContext, LoggerService, LogLevel, Module, ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidLaterzOptions, laterzSetup, type LaterzOptions } from './config/laterz-options.js';
import { scratchDatabaseName, scratchId } from './config/scratch-names.js';
import { DATABASE_URL } from './database/database.module.js';
import { createFreshDatabase } from './database/fresh-database.js';
import { LaterzDatabase } from './database/laterz-database.js';
import { type IdleReport, type RunUntilIdleOptions, type TaskSnapshot, WorkDriver } from './driven/work-driver.js';
import type { DependencyRef } from './tasks/enqueue-request.js';
import { LaterzModule } from './laterz.module.js';
import { TasksService } from './tasks/tasks.service.js';

export interface LaterzTestingOptions {
  /** Your modules: those whose providers have your `@TaskHandler` methods, and what they need. */
  imports?: ModuleMetadata['imports'];
  /** More providers of the test app (handlers, stand-ins for your own services). */
  providers?: ModuleMetadata['providers'];
  /**
   * A PostgreSQL server to test on: a database of the app's own is made on it (`laterz_testing_<id>`,
   * so test files running at once never meet) and dropped by close(); the database the URL names
   * only runs the CREATE and the DROP. Default: an embedded PostgreSQL in a temporary folder, stopped
   * and deleted by close() (slower: a few seconds to start).
   */
  database?: { url: string };
  /** Each enqueue runs the tasks it made runnable before it resolves (LaterzModule's `inline`). Default false: they run at runUntilIdle(). */
  inline?: boolean;
  /** As in LaterzModule.forRoot. */
  schema?: string;
  /** As in LaterzModule.forRoot (e.g. `{ RETRY_TIERS: '0:3' }`: failed tasks are retried at once, up to 3 failures). */
  settings?: LaterzOptions['settings'];
  /** The Nest logger of the test app (false, log levels or a LoggerService). Default ['error']. */
  logger?: false | LogLevel[] | LoggerService;
}

/** A test app: laterz and your modules, on a database of its own, moved by you. */
export interface LaterzTestingApp {
  /** The Nest application context (no HTTP server): `app.get(YourService)`. */
  app: INestApplicationContext;
  tasks: TasksService;
  /** The URL of the test's database (for a DataSource of your own: inject `DATABASE_URL`). */
  databaseUrl: string;
  /**
   * Runs every runnable task in this process (queued ones, the DAGs they open, bulk batches, pending
   * tasks due, retries whose tier is due) until none is left runnable; resolves with the counts by
   * status and the tasks still waiting, with why. It never waits for a retry tier or a runAfter in
   * the future: those tasks are reported waiting.
   */
  runUntilIdle(options?: RunUntilIdleOptions): Promise<IdleReport>;
  /** A task (by id or handle) as it is now: status, result, error, broken reason, attempts, log. */
  task(ref: DependencyRef): Promise<TaskSnapshot>;
  /** Closes the app, and drops its database (a given server) or stops and deletes the embedded one. */
  close(): Promise<void>;
}

const OPTION_FIELDS = ['imports', 'providers', 'database', 'inline', 'schema', 'settings', 'logger'];

@Module({})
class LaterzTestingModule {}

/**
 * Your handlers run in your test, as the worker runs them (graphile-worker's runOnce): no
 * consumer, no timer, no sleep; tasks run when you call runUntilIdle(), or at each enqueue with
 * `inline: true`.
 */
export class LaterzTesting {
  /** Starts the test app (its database made and migrated first). Wrong options throw InvalidLaterzOptions naming each field. */
  static async create(options: LaterzTestingOptions = {}): Promise<LaterzTestingApp> {
    const drive = options.inline ? 'inline' : 'caller';
    const laterz = (database: LaterzOptions['database']) => laterzSetup({ database, schema: options.schema, settings: options.settings }, {}, drive);
    // Checked before anything is made.
    checkOptions(options);
    laterz(options.database ?? { embedded: {} });

    const cleanup: (() => Promise<void>)[] = [];
    const clean = async () => {
      for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
    };
    try {
      let database: LaterzOptions['database'];
      if (options.database) {
        const fresh = await createFreshDatabase(options.database.url, scratchDatabaseName('testing', scratchId(6)));
        cleanup.push(() => fresh.drop());
        database = { url: fresh.url };
      } else {
        const dataDir = mkdtempSync(join(tmpdir(), 'laterz-testing-'));
        cleanup.push(async () => rmSync(dataDir, { recursive: true, force: true }));
        database = { embedded: { dataDir, port: await freePort() } };
      }
      const setup = laterz(database);
      // Opened by the app, stopped here (after the app has closed its pools), also should the app fail to start.
      const opened = new LaterzDatabase(setup.config, { migrate: setup.migrate });
      cleanup.push(() => opened.stop());
      const root: DynamicModule = {
        module: LaterzTestingModule,
        imports: [LaterzModule.forTesting(setup, opened), ...(options.imports ?? [])],
        providers: options.providers ?? [],
      };
      const app = await NestFactory.createApplicationContext(root, { logger: options.logger ?? ['error'], abortOnError: false });
      cleanup.push(() => app.close());
      const driver = app.get(WorkDriver);
      let closing: Promise<void> | undefined;
      return {
        app,
        tasks: app.get(TasksService),
        databaseUrl: app.get<string>(DATABASE_URL),
        runUntilIdle: (o) => driver.runUntilIdle(o),
        task: (ref) => driver.task(ref),
        close: () => (closing ??= clean()),
      };
    } catch (err) {
      await clean();
      throw err;
    }
  }
}

function checkOptions(options: LaterzTestingOptions): void {
  const problems: string[] = [];
  if (typeof options !== 'object' || options === null) throw new InvalidLaterzOptions(['options: must be an object']);
  for (const key of Object.keys(options)) {
    if (!OPTION_FIELDS.includes(key)) problems.push(`${key}: not a LaterzTesting option (${OPTION_FIELDS.join(', ')})`);
  }
  const db = options.database as unknown;
  if (db !== undefined && (typeof db !== 'object' || db === null || typeof (db as { url?: unknown }).url !== 'string' || Object.keys(db).length !== 1)) {
    problems.push('database: must be { url } (a server to make the test database on), or left out for an embedded PostgreSQL');
  }
  if (problems.length > 0) throw new InvalidLaterzOptions(problems);
}

/** A TCP port free now on 127.0.0.1, for the embedded server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
