import { EnvSchema, Role, validateEnv } from './env.schema.js';

/** Typed, validated settings; the only object that knows about process.env. */
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
    readonly pollMs: number;
  };
  readonly limits: {
    readonly resultBytes: number;
    readonly argsBytes: number;
    readonly logBytes: number;
    readonly attemptsKept: number;
    readonly defaultTimeoutMs: number;
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
      pollMs: env.WORKER_POLL_MS,
    };
    this.limits = {
      resultBytes: env.TASK_RESULT_MAX_BYTES,
      argsBytes: env.TASK_ARGS_MAX_BYTES,
      logBytes: env.TASK_LOG_MAX_BYTES,
      attemptsKept: env.TASK_ATTEMPTS_KEPT,
      defaultTimeoutMs: env.TASK_DEFAULT_TIMEOUT_SECONDS * 1000,
    };
  }

  /** Reads and validates the process environment (throws EnvValidationError naming every bad variable). */
  static fromEnv(env: Record<string, string | undefined> = process.env): AppConfig {
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
