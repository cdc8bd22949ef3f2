import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Pool } from 'pg';
import amqplib from 'amqplib';
import { Broker, brokerQueueName, PublishPriority, PublishRef } from '../../src/broker/broker.js';
import { bootstrap, Running } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { NO_ENV_FILE } from '../../src/config/env-file.js';
import { EnvSchema } from '../../src/config/env.schema.js';
import type { ScratchSettings } from '../../src/config/scratch-names.js';
import { runMigrations } from '../../src/database/migrate.js';
import { argsHash, canonicalJson } from '../../src/tasks/canonical-json.js';
import { Db } from '../../src/database/db.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { BENCH_FUNCS, BenchHandlersModule } from '../bench-handlers.js';
import { wallMs } from '../lib/clock.js';
import { benchAmqpPrefix } from '../lib/databases.js';
import type { Transport, WorkerTuning } from '../lib/options.js';
import type { WorkerSpec } from '../lib/workers.js';
import type { JobKind, JobPayload, QueueSystem, SeedOptions, SystemClient } from './system.js';

const WORKER_SCRIPT = fileURLToPath(new URL('../worker-main.js', import.meta.url));
/** Every variable laterz reads: removed from the inherited environment so only the bench's apply. */
const LATERZ_VARIABLES = [...Object.keys(new EnvSchema()), 'DATABASE_URL', 'AMQP_URL'];
/** Unfinished tasks of the bench's own funcs (whatever else the app may enqueue is not the bench's). */
const UNFINISHED = `status IN ('pending', 'queued', 'started', 'deferred') AND func LIKE 'bench.%'`;

export interface LaterzOptions {
  transport: Transport;
  amqpUrl: string;
  /** The user's AMQP_PREFIX and DB_SCHEMA, which the bench's apps and workers follow. */
  settings: ScratchSettings;
  worker: WorkerTuning;
  /** Extra settings for the worker processes (e.g. WORKER_POLL_MS). */
  workerEnv?: Record<string, string>;
}

/**
 * Rows written straight into `task` and `task_key` as `enqueue` would write them: canonical JSON args `{"i":N}`
 * and their sha256 as args_hash (checked against the engine's own functions after each seed).
 * RETURNING the refs the broker is then given.
 */
const INSERT_QUEUED = `
  WITH t AS (
         INSERT INTO task (collection, func, args, args_hash, status, size_bytes)
         SELECT 'default', $1, a.args::jsonb, sha256(convert_to(a.args, 'UTF8')), $4::task_status, octet_length(a.args)
           FROM (SELECT format('{"i":%s}', g) AS args FROM generate_series($2::bigint, $3::bigint) g) a
         RETURNING id, collection, func, args_hash, priority
       ),
       k AS (INSERT INTO task_key (collection, func, args_hash, task_id) SELECT collection, func, args_hash, id FROM t)
  SELECT id::text AS "taskId", collection, func, priority FROM t`;

/** History: finished tasks as a long-running installation keeps them (never deleted). */
const INSERT_HISTORY = `
  WITH t AS (
         INSERT INTO task (collection, func, args, args_hash, status, size_bytes, attempt, result, worker,
                           date_created, date_modified, date_started, date_finished)
         SELECT 'default', $1, a.args::jsonb, sha256(convert_to(a.args, 'UTF8')), 'success', octet_length(a.args), 1, 'null'::jsonb,
                'history:1', a.at, a.at, a.at, a.at
           FROM (SELECT format('{"h":%s}', g) AS args, now() - make_interval(secs => $2::bigint - g) AS at
                   FROM generate_series(1, $2::bigint) g) a
         RETURNING id, collection, func, args_hash
       )
  INSERT INTO task_key (collection, func, args_hash, task_id) SELECT collection, func, args_hash, id FROM t`;

/** The laterz app in the bench process (ROLES=api: enqueue and publish, no worker) plus a pool of the bench's own. */
export class LaterzClient implements SystemClient {
  private constructor(
    private readonly running: Running,
    /** The bench's own connections (seeding, counting), with search_path on the laterz schema. */
    readonly db: Pool,
  ) {}

  static async open(url: string, env: Record<string, string | undefined>): Promise<LaterzClient> {
    const config = AppConfig.fromEnv(env);
    const running = await bootstrap(config, { handleSignals: false, imports: [BenchHandlersModule] });
    const db = new Pool({ connectionString: url, max: 4, application_name: 'laterz-bench', options: `-c search_path=${config.dbSchema}` });
    db.on('error', (err) => console.error(`bench pool: ${err.message}`));
    return new LaterzClient(running, db);
  }

  get tasks(): TasksService {
    return this.running.app.get(TasksService, { strict: false });
  }

  get broker(): Broker {
    return this.running.app.get(Broker, { strict: false });
  }

  /**
   * Inserts tasks `func({i})` for i in [from, to] in one transaction; returns their refs.
   * `analyze`: ANALYZE in that transaction (it counts its own inserts), so the planner sees them from the commit on.
   */
  async insert(func: string, from: number, to: number, status: 'queued' | 'pending', options: SeedOptions = {}): Promise<PublishRef[]> {
    const refs = await new Db(this.db).transaction(async (tx) => {
      const rows = await tx.rows<PublishRef>({ text: INSERT_QUEUED }, [func, from, to, status]);
      if (options.analyze) await tx.rows({ text: 'ANALYZE task' }, []);
      return rows;
    });
    await this.checkHash(func, from);
    return refs;
  }

  /** Queues every pending task of `func` in one transaction; returns their refs (to publish). */
  async release(func: string, options: SeedOptions = {}): Promise<PublishRef[]> {
    return new Db(this.db).transaction(async (tx) => {
      const rows = await tx.rows<PublishRef>(
        { text: `UPDATE task SET status = 'queued', date_modified = now() WHERE func = $1 AND status = 'pending' RETURNING id::text AS "taskId", collection, func, priority` },
        [func],
      );
      if (options.analyze) await tx.rows({ text: 'ANALYZE task' }, []);
      return rows;
    });
  }

  /** Inserts and hands to the workers; returns wallMs() at the commit. */
  async seed(func: string, from: number, to: number, options: SeedOptions = {}): Promise<number> {
    const refs = await this.insert(func, from, to, 'queued', options);
    const visible = wallMs();
    await this.publish(refs);
    return visible;
  }

  /** Hands refs to the broker (a NOTIFY on PostgreSQL, messages on AMQP) in slices. */
  async publish(refs: PublishRef[]): Promise<void> {
    for (let i = 0; i < refs.length; i += 10_000) await this.broker.publish(refs.slice(i, i + 10_000), PublishPriority.Enqueue);
  }

  /** `n` finished (success) tasks of `func`, then VACUUM ANALYZE as autovacuum would have done by then. */
  async seedHistory(func: string, n: number): Promise<void> {
    await this.db.query(INSERT_HISTORY, [func, n]);
    await this.db.query('VACUUM (ANALYZE) task');
  }

  seedNoop(n: number, options: SeedOptions = {}): Promise<number> {
    return this.seed(BENCH_FUNCS.noop, 1, n, options);
  }

  /** A provider of the bench's app (the scheduled scenario runs the due scan through it). */
  get<T>(type: abstract new (...args: never[]) => T): T {
    return this.running.app.get(type, { strict: false });
  }

  /** A latency job that starts no earlier than `runAfter`. */
  async enqueueAt(payload: JobPayload, runAfter: Date): Promise<void> {
    await this.tasks.enqueue(BENCH_FUNCS.latency, payload, { runAfter });
  }

  async enqueue(kind: JobKind, payload: JobPayload): Promise<void> {
    await this.tasks.enqueue(kind === 'noop' ? BENCH_FUNCS.noop : BENCH_FUNCS.latency, payload);
  }

  async busy(): Promise<boolean> {
    const { rows } = await this.db.query<{ busy: boolean }>(`SELECT EXISTS (SELECT 1 FROM task WHERE ${UNFINISHED}) AS busy`);
    return rows[0].busy;
  }

  async count(): Promise<number> {
    return (await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task WHERE func LIKE 'bench.%'`)).rows[0].n;
  }

  async unfinished(): Promise<number> {
    return (await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task WHERE ${UNFINISHED}`)).rows[0].n;
  }

  async succeeded(kind: JobKind | string): Promise<number> {
    const func = kind === 'noop' ? BENCH_FUNCS.noop : kind === 'latency' ? BENCH_FUNCS.latency : kind;
    return (await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task WHERE func = $1 AND status = 'success'`, [func])).rows[0].n;
  }

  /** Task counts by status (for error messages when a drain stalls). */
  async statusCounts(): Promise<Record<string, number>> {
    const { rows } = await this.db.query<{ status: string; n: number }>('SELECT status::text AS status, count(*)::int AS n FROM task GROUP BY 1');
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async close(): Promise<void> {
    await this.running.shutdown();
    await this.db.end();
  }

  private async checkHash(func: string, i: number): Promise<void> {
    const hash = argsHash(canonicalJson({ i }));
    const { rows } = await this.db.query(`SELECT 1 FROM task_key WHERE collection = 'default' AND func = $1 AND args_hash = $2`, [func, hash]);
    if (rows.length !== 1) {
      throw new Error('the bench seed no longer writes the args_hash enqueue computes: update INSERT_QUEUED in bench/systems/laterz.ts');
    }
  }

}

/** laterz itself: migrations from dist/, `bench/worker-main.ts` processes, an api-role app in the bench. */
export class Laterz implements QueueSystem<LaterzClient> {
  readonly name = 'laterz';

  constructor(private readonly options: LaterzOptions) {}

  /** The same system whose workers get these settings too (e.g. WORKER_ISOLATION). */
  withWorkerEnv(env: Record<string, string>, worker: WorkerTuning = this.options.worker): Laterz {
    return new Laterz({ ...this.options, worker, workerEnv: { ...this.options.workerEnv, ...env } });
  }

  get settings(): Record<string, unknown> {
    return {
      transport: this.options.transport,
      WORKER_CONCURRENCY: this.options.worker.concurrency,
      WORKER_BATCH_SIZE: this.options.worker.batchSize,
      ...this.options.workerEnv,
    };
  }

  async install(url: string): Promise<void> {
    await runMigrations(AppConfig.fromEnv(this.appEnv(url)), url);
  }

  workers(url: string, count: number): WorkerSpec[] {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !LATERZ_VARIABLES.includes(k)));
    return Array.from({ length: count }, (_, i) => ({
      label: `laterz#${i + 1}`,
      script: WORKER_SCRIPT,
      env: {
        ...inherited,
        ...this.appEnv(url),
        ROLES: 'worker',
        SHUTDOWN_GRACE_SECONDS: '2',
        WORKER_CONCURRENCY: String(this.options.worker.concurrency),
        WORKER_BATCH_SIZE: String(this.options.worker.batchSize),
        ...this.options.workerEnv,
      },
    }));
  }

  /** The api role is the one without a worker or crons; it wants admin tokens, which nobody uses here. */
  open(url: string): Promise<LaterzClient> {
    return LaterzClient.open(url, { ...this.appEnv(url), ROLES: 'api', ADMIN_TOKENS: `operator:${randomBytes(24).toString('hex')}` });
  }

  /** AMQP: deletes the run's queues (RabbitMQ keeps durable queues after the database is gone). */
  async dispose(url: string): Promise<void> {
    if (this.options.transport !== 'amqp') return;
    const connection = await amqplib.connect(this.options.amqpUrl);
    try {
      const channel = await connection.createChannel();
      for (const func of Object.values(BENCH_FUNCS)) await channel.deleteQueue(brokerQueueName(benchAmqpPrefix(this.options.settings, url), { func, queue: 'default' }));
      await channel.close();
    } finally {
      await connection.close();
    }
  }

  /** Settings shared by the bench's app and the workers: one database (the user's DB_SCHEMA), one AMQP prefix per database. */
  private appEnv(url: string): Record<string, string | undefined> {
    const amqp = this.options.transport === 'amqp';
    return {
      DATABASE_URL: url,
      DB_SCHEMA: this.options.settings.dbSchema,
      PORT: '0',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      AMQP_URL: amqp ? this.options.amqpUrl : undefined,
      AMQP_PREFIX: amqp ? benchAmqpPrefix(this.options.settings, url) : undefined,
      // The engine alone: no reference pipeline (its boot-time walk would add tasks of its own).
      PIPELINE_ENABLED: 'false',
      ENV_FILE: NO_ENV_FILE,
    };
  }
}
