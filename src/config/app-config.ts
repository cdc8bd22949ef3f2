import { withEnvFile } from './env-file.js';
import { AdminRole, EnvSchema, Role, validateEnv } from './env.schema.js';

/** Typed, validated settings; the only object that knows about process.env (and the .env file). */
export class AppConfig {
  readonly port: number;
  readonly roles: ReadonlySet<Role>;
  readonly databaseUrl?: string;
  readonly dataDir: string;
  readonly embeddedPgPort: number;
  readonly dbSchema: string;
  readonly dbPoolSize: number;
  readonly logLevel: string;
  readonly logFormat: 'auto' | 'json' | 'pretty';
  readonly shutdownGraceMs: number;
  readonly amqp: {
    readonly url?: string;
    readonly prefix: string;
    readonly queueType: 'classic' | 'quorum';
    readonly heartbeatSeconds: number;
    readonly publishTimeoutMs: number;
    readonly deliveryLimit: number;
  };
  readonly worker: {
    readonly concurrency: number;
    readonly batchSize: number;
    readonly queues: readonly string[];
    readonly maxTasks: number;
    readonly maxAgeMs: number;
    readonly maxMemoryMb: number;
    readonly pollMs: number;
    /** WORKER_ISOLATION: where a func's handler runs when the func does not say. */
    readonly isolation: 'inline' | 'thread' | 'process';
  };
  /** The pooled worker threads and child processes of isolated funcs (ISOLATE_*). */
  readonly isolate: {
    /** ISOLATE_POOL_SIZE, 0 made WORKER_CONCURRENCY. */
    readonly poolSize: number;
    readonly memoryLimitMb: number;
    readonly killGraceMs: number;
    readonly maxTasks: number;
    readonly maxAgeMs: number;
    readonly maxMemoryMb: number;
    readonly idleMs: number;
  };
  /** FUNC_HEARTBEAT_SECONDS, in milliseconds: how often a serving process records its funcs. */
  readonly funcHeartbeatMs: number;
  /** HANDLER_GUARD: what keeps a handler from ending its process (see the env schema). */
  readonly handlerGuard: 'exit' | 'full' | 'off';
  readonly limits: {
    readonly resultBytes: number;
    readonly argsBytes: number;
    readonly logBytes: number;
    readonly attemptsKept: number;
    readonly defaultTimeoutMs: number;
  };

  readonly scheduler: {
    readonly dispatchIntervalMs: number;
    /** DUE_SCAN_INTERVAL_MS. */
    readonly dueScanIntervalMs: number;
    readonly bulkIntervalMs: number;
    readonly statsIntervalMs: number;
    readonly deadlineMs: number;
    readonly periodicIntervalMs: number;
    readonly periodicGraceMs: number;
    readonly expiryIntervalMs: number;
  };
  readonly dispatch: {
    readonly queueLimit: number;
    readonly tickMaxRows: number;
    readonly minQueueSize: number;
    readonly maxQueueSize: number;
    readonly queuedGraceSeconds: number;
    readonly minAgeSeconds: number;
    readonly retryTiers: readonly { minutes: number; failLimit: number }[];
    readonly deadAfterSeconds: number;
  };
  readonly bulk: { readonly maxTasks: number; readonly maxBytes: number; readonly overheadBytes: number };
  readonly collections: readonly { name: string; root?: string; process: boolean; sync: boolean }[];
  readonly pipelineEnabled: boolean;
  /**
   * LATERZ_HANDLERS: the handlers files `laterz start` loads when no `--handlers` is given (then
   * those), and an app's `handlers` option: what an isolate boots to run isolated funcs.
   */
  readonly handlers: readonly string[];
  readonly admin: {
    readonly tokens: readonly { role: AdminRole; token: string }[];
    readonly maxRowsPerCall: number;
    readonly statementTimeoutMs: number;
  };

  constructor(
    env: EnvSchema,
    private readonly raw: Readonly<Record<string, string | undefined>> = {},
  ) {
    this.port = env.PORT;
    this.roles = new Set(env.ROLES);
    this.databaseUrl = env.DATABASE_URL;
    this.dataDir = env.DATA_DIR;
    this.embeddedPgPort = env.EMBEDDED_PG_PORT;
    this.dbSchema = env.DB_SCHEMA;
    this.dbPoolSize = env.DB_POOL_SIZE;
    this.logLevel = env.LOG_LEVEL;
    this.logFormat = env.LOG_FORMAT as AppConfig['logFormat'];
    this.shutdownGraceMs = env.SHUTDOWN_GRACE_SECONDS * 1000;
    this.amqp = {
      url: env.AMQP_URL,
      prefix: env.AMQP_PREFIX,
      queueType: env.AMQP_QUEUE_TYPE,
      heartbeatSeconds: env.AMQP_HEARTBEAT_SECONDS,
      publishTimeoutMs: env.AMQP_PUBLISH_TIMEOUT_MS,
      deliveryLimit: env.AMQP_DELIVERY_LIMIT,
    };
    this.worker = {
      concurrency: env.WORKER_CONCURRENCY,
      batchSize: env.WORKER_BATCH_SIZE,
      queues: env.WORKER_QUEUES,
      maxTasks: env.WORKER_MAX_TASKS,
      maxAgeMs: env.WORKER_MAX_MINUTES * 60_000,
      maxMemoryMb: env.WORKER_MAX_MEMORY_MB,
      pollMs: env.WORKER_POLL_MS,
      isolation: env.WORKER_ISOLATION,
    };
    this.isolate = {
      poolSize: env.ISOLATE_POOL_SIZE || env.WORKER_CONCURRENCY,
      memoryLimitMb: env.ISOLATE_MEMORY_LIMIT_MB,
      killGraceMs: env.ISOLATE_KILL_GRACE_SECONDS * 1000,
      maxTasks: env.ISOLATE_MAX_TASKS,
      maxAgeMs: env.ISOLATE_MAX_MINUTES * 60_000,
      maxMemoryMb: env.ISOLATE_MAX_MEMORY_MB,
      idleMs: env.ISOLATE_IDLE_SECONDS * 1000,
    };
    this.funcHeartbeatMs = env.FUNC_HEARTBEAT_SECONDS * 1000;
    this.handlerGuard = env.HANDLER_GUARD;
    this.limits = {
      resultBytes: env.TASK_RESULT_MAX_BYTES,
      argsBytes: env.TASK_ARGS_MAX_BYTES,
      logBytes: env.TASK_LOG_MAX_BYTES,
      attemptsKept: env.TASK_ATTEMPTS_KEPT,
      defaultTimeoutMs: env.TASK_DEFAULT_TIMEOUT_SECONDS * 1000,
    };
    this.scheduler = {
      dispatchIntervalMs: env.DISPATCH_INTERVAL_SECONDS * 1000,
      dueScanIntervalMs: env.DUE_SCAN_INTERVAL_MS,
      bulkIntervalMs: env.BULK_INTERVAL_SECONDS * 1000,
      statsIntervalMs: env.STATS_INTERVAL_SECONDS * 1000,
      deadlineMs: env.SYSTEM_TASK_DEADLINE_SECONDS * 1000,
      periodicIntervalMs: env.PERIODIC_INTERVAL_MS,
      periodicGraceMs: env.PERIODIC_MISFIRE_GRACE_SECONDS * 1000,
      expiryIntervalMs: env.EXPIRY_INTERVAL_SECONDS * 1000,
    };
    this.dispatch = {
      queueLimit: env.DISPATCH_QUEUE_LIMIT,
      tickMaxRows: env.DISPATCH_TICK_MAX_ROWS,
      minQueueSize: env.DISPATCH_MIN_QUEUE_SIZE,
      maxQueueSize: env.DISPATCH_MAX_QUEUE_SIZE,
      queuedGraceSeconds: env.DISPATCH_QUEUED_GRACE_SECONDS,
      minAgeSeconds: env.DISPATCH_MIN_AGE_SECONDS,
      retryTiers: env.RETRY_TIERS.split(',').map((pair) => {
        const [minutes, failLimit] = pair.split(':').map(Number);
        return { minutes, failLimit };
      }),
      deadAfterSeconds: env.DEAD_TASK_AFTER_SECONDS,
    };
    this.bulk = { maxTasks: env.BULK_MAX_TASKS, maxBytes: env.BULK_MAX_BYTES, overheadBytes: env.BULK_TASK_OVERHEAD_BYTES };
    this.collections = env.COLLECTIONS.split(',')
      .filter((c) => c.length > 0)
      .map((entry) => {
        const [head, flags = ''] = entry.split(':');
        const [name, root] = head.split('=');
        const set = new Set(flags.split('+'));
        return { name, root, process: !set.has('noprocess'), sync: set.has('sync') };
      });
    this.pipelineEnabled = env.PIPELINE_ENABLED;
    this.handlers = env.LATERZ_HANDLERS;
    this.admin = {
      tokens: (env.ADMIN_TOKENS ?? '')
        .split(',')
        .filter((t) => t.length > 0)
        .map((pair) => {
          const i = pair.indexOf(':');
          return { role: pair.slice(0, i) as AdminRole, token: pair.slice(i + 1) };
        }),
      maxRowsPerCall: env.ADMIN_MAX_ROWS_PER_CALL,
      statementTimeoutMs: env.ADMIN_STATEMENT_TIMEOUT_MS,
    };
  }

  /**
   * Validates `env`; without it, the process environment over the env file (`.env` in the working
   * directory, or ENV_FILE). Throws EnvValidationError naming every bad variable or env-file line.
   */
  static fromEnv(env: Record<string, string | undefined> = withEnvFile(process.env)): AppConfig {
    return new AppConfig(validateEnv(env), env);
  }

  /** A copy with some values replaced: tests and the embedded database use it. */
  with(overrides: Partial<Record<keyof EnvSchema, string>>): AppConfig {
    return AppConfig.fromEnv({ ...this.raw, ...overrides });
  }

  has(role: Role): boolean {
    return this.roles.has(role);
  }
}
