import { plainToInstance, Transform } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  validateSync,
  ValidationError,
} from 'class-validator';

export const ROLES = ['api', 'worker', 'scheduler'] as const;
export type Role = (typeof ROLES)[number];

/** Roles of an admin API token, weakest first: a viewer reads, an enqueuer also enqueues, an operator also changes tasks and collections. */
export const ADMIN_ROLES = ['viewer', 'enqueuer', 'operator'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : value;

/**
 * Every environment variable laterz reads, validated once at boot.
 * Defaults and units are in the comments and in `.env.example`.
 */
export class EnvSchema {
  /**
   * The env file read at boot, relative to the working directory. Default .env (no error if it is
   * missing). Read from the process environment only: inside the file it means nothing. A variable
   * set in the environment wins over the file's.
   */
  @IsString()
  ENV_FILE = '.env';

  /** HTTP port for the API, health and metrics (0: any free port). Default 3000. */
  @Transform(toInt) @Min(0) @Max(65535) @IsInt()
  PORT = 3000;

  /** Comma-separated roles this process plays: api, worker, scheduler. Default all three. */
  @Transform(toList)
  @IsIn(ROLES, { each: true, message: 'ROLES must be a comma-separated list of api, worker, scheduler' })
  @ArrayNotEmpty({ message: 'ROLES must name at least one of api, worker, scheduler' })
  ROLES: Role[] = ['api', 'worker', 'scheduler'];

  /** PostgreSQL URL. Unset: an embedded PostgreSQL is started with its data under DATA_DIR. */
  @IsOptional() @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// or postgresql:// URL' })
  DATABASE_URL?: string;

  /** Folder for the embedded PostgreSQL's data (and other local state). Default ./data. */
  @IsString()
  DATA_DIR = './data';

  /** Port of the embedded PostgreSQL (only without DATABASE_URL). Default 54329. */
  @Transform(toInt) @Min(1) @Max(65535) @IsInt()
  EMBEDDED_PG_PORT = 54329;

  /** Schema that holds every engine table. Default laterz. */
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'DB_SCHEMA must be a lower-case SQL identifier' })
  DB_SCHEMA = 'laterz';

  /** Connections in the shared pool of this process. Default 10. */
  @Transform(toInt) @Min(2) @Max(500) @IsInt()
  DB_POOL_SIZE = 10;

  /** pino level: fatal, error, warn, info, debug, trace, silent. Default info. */
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /**
   * json, pretty, or auto (pretty when stdout is a terminal and pino-pretty, a devDependency, is
   * installed; json otherwise). pretty without pino-pretty stops the boot. Default auto.
   */
  @IsIn(['auto', 'json', 'pretty'])
  LOG_FORMAT = 'auto';

  /** Seconds a stopping process waits for running tasks before handing them back. Default 30. */
  @Transform(toInt) @Min(0) @Max(3600) @IsInt()
  SHUTDOWN_GRACE_SECONDS = 30;

  /** RabbitMQ URL. Unset: PostgreSQL itself is the queue. */
  @IsOptional() @Matches(/^amqps?:\/\//, { message: 'AMQP_URL must be an amqp:// or amqps:// URL' })
  AMQP_URL?: string;

  /** Prefix of every RabbitMQ queue name. Default laterz. */
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'AMQP_PREFIX must be 1-64 letters, digits, _ . -' })
  AMQP_PREFIX = 'laterz';

  /** classic (x-max-priority) or quorum. Default classic. */
  @IsIn(['classic', 'quorum'])
  AMQP_QUEUE_TYPE: 'classic' | 'quorum' = 'classic';

  /** AMQP heartbeat, seconds. Default 15. */
  @Transform(toInt) @Min(0) @Max(600) @IsInt()
  AMQP_HEARTBEAT_SECONDS = 15;

  /** Longest wait for a publisher confirm, milliseconds; an unconfirmed task is left to the dispatcher. Default 5000. */
  @Transform(toInt) @Min(10) @Max(600000) @IsInt()
  AMQP_PUBLISH_TIMEOUT_MS = 5000;

  /** Deliveries a quorum queue allows before dead-lettering a message. Default 20. */
  @Transform(toInt) @Min(1) @Max(1000) @IsInt()
  AMQP_DELIVERY_LIMIT = 20;

  /** Tasks one worker process runs at the same time. Default 64. */
  @Transform(toInt) @Min(1) @Max(10000) @IsInt()
  WORKER_CONCURRENCY = 64;

  /** Deliveries claimed per micro-batch (the AMQP prefetch). Default 100. */
  @Transform(toInt) @Min(1) @Max(5000) @IsInt()
  WORKER_BATCH_SIZE = 100;

  /** Comma-separated queue names this worker serves; empty serves all. */
  @Transform(toList) @IsString({ each: true })
  WORKER_QUEUES: string[] = [];

  /** Exit gracefully after this many tasks (0: never), so a supervisor restarts a leaky worker. */
  @Transform(toInt) @Min(0) @IsInt()
  WORKER_MAX_TASKS = 0;

  /** Exit gracefully after this many minutes (0: never), so a supervisor restarts the worker. */
  @Transform(toInt) @Min(0) @IsInt()
  WORKER_MAX_MINUTES = 0;

  /** Exit gracefully once the process's resident memory is above this many MiB (0: never), checked every few seconds. */
  @Transform(toInt) @Min(0) @IsInt()
  WORKER_MAX_MEMORY_MB = 0;

  /**
   * Where handlers run unless their func says (its `isolation` option): inline (default: the
   * worker's own event loop), thread (a pooled worker thread) or process (a pooled child process).
   * Isolated handlers can be ended by force (hard timeout), have a memory limit, and a crash or a
   * process.exit in one fails its task alone. Bulk funcs always run inline.
   */
  @IsIn(['inline', 'thread', 'process'])
  WORKER_ISOLATION: 'inline' | 'thread' | 'process' = 'inline';

  /**
   * Isolates of each kind (mode and memory limit) one worker keeps at most (0: WORKER_CONCURRENCY).
   * A claimed task waits for a free one; its timeout starts when one takes it. Default 0.
   */
  @Transform(toInt) @Min(0) @Max(10000) @IsInt()
  ISOLATE_POOL_SIZE = 0;

  /** Heap limit of each isolated handler's thread or child, MiB (0: Node's default); a func's `memoryLimit` wins. Above it the task is broken (out_of_memory). */
  @Transform(toInt) @Min(0) @Max(1048576) @IsInt()
  ISOLATE_MEMORY_LIMIT_MB = 0;

  /** Seconds an aborted isolated handler (cancelled, handed back at shutdown, its session lost) may run on before its isolate is ended by force; also a timed-out one's, unless its func sets hardTimeout. Default 10. */
  @Transform(toInt) @Min(0) @Max(86400) @IsInt()
  ISOLATE_KILL_GRACE_SECONDS = 10;

  /** Retire a pooled isolate after this many tasks (0: never). Default 0. */
  @Transform(toInt) @Min(0) @IsInt()
  ISOLATE_MAX_TASKS = 0;

  /** Retire a pooled isolate this many minutes after it started (0: never). Default 0. */
  @Transform(toInt) @Min(0) @IsInt()
  ISOLATE_MAX_MINUTES = 0;

  /** Retire a pooled isolate whose memory (a child's RSS, a thread's heap) is above this many MiB after a task (0: never). Default 0. */
  @Transform(toInt) @Min(0) @IsInt()
  ISOLATE_MAX_MEMORY_MB = 0;

  /** Seconds an isolate may stay idle before it is retired (one of each kind stays). Default 60. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  ISOLATE_IDLE_SECONDS = 60;

  /**
   * What keeps a task handler from ending its process (worker and scheduler roles). exit (default):
   * process.exit in a handler, at once or later in its awaited chain, fails that task instead. full:
   * also from its timers and callbacks, and an exception they throw or a rejection the handler
   * leaves unhandled fails its task instead of crashing the process (AsyncLocalStorage: costs 4-18%
   * of the no-op task throughput on Node 20, measured on a noisy 2-core machine). off: none.
   */
  @IsIn(['exit', 'full', 'off'])
  HANDLER_GUARD: 'exit' | 'full' | 'off' = 'exit';

  /** Milliseconds an idle PostgreSQL-queue worker waits for a NOTIFY before polling. Default 1000. */
  @Transform(toInt) @Min(10) @Max(60000) @IsInt()
  WORKER_POLL_MS = 1000;

  /**
   * Seconds between two records of the funcs a worker or scheduler serves (func, func_server). A
   * server not seen for 3 beats is not live: the dispatcher stops queuing its funcs, and an older
   * version's worker resumes them. Default 15.
   */
  @Transform(toInt) @Min(1) @Max(3600) @IsInt()
  FUNC_HEARTBEAT_SECONDS = 15;

  /** Largest task result, bytes (JSON). Default 1048576 (1 MiB). */
  @Transform(toInt) @Min(1024) @IsInt()
  TASK_RESULT_MAX_BYTES = 1048576;

  /** Largest task args, bytes (JSON). Default 65536. */
  @Transform(toInt) @Min(256) @IsInt()
  TASK_ARGS_MAX_BYTES = 65536;

  /** Largest captured task log, bytes; the tail is kept. Default 65536. */
  @Transform(toInt) @Min(256) @IsInt()
  TASK_LOG_MAX_BYTES = 65536;

  /** Failed attempts kept per task in task_attempt. Default 10. */
  @Transform(toInt) @Min(1) @Max(1000) @IsInt()
  TASK_ATTEMPTS_KEPT = 10;

  /** Seconds between dispatcher runs. Default 10. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  DISPATCH_INTERVAL_SECONDS = 10;

  /**
   * Milliseconds between due scans: tasks whose runAfter or retry time has come are queued (one
   * indexed statement per scan). Default 250.
   */
  @Transform(toInt) @Min(20) @Max(86400000) @IsInt()
  DUE_SCAN_INTERVAL_MS = 250;

  /** Seconds between bulk runner runs. Default 10. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  BULK_INTERVAL_SECONDS = 10;

  /** Seconds between stats runs. Default 60. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  STATS_INTERVAL_SECONDS = 60;

  /** Milliseconds between runs of the periodic job (fires due schedules). Default 1000. */
  @Transform(toInt) @Min(100) @Max(3_600_000) @IsInt()
  PERIODIC_INTERVAL_MS = 1000;

  /** Seconds a schedule's slot may be late and still fire as itself; older slots were missed (the schedule's `missed` policy). Default 60. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  PERIODIC_MISFIRE_GRACE_SECONDS = 60;

  /** Seconds between runs of the expiry sweep (waiting tasks past their expiresAt become broken/expired). Default 5. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  EXPIRY_INTERVAL_SECONDS = 5;

  /** Longest run of one cron job, seconds; it stops taking new work after this. Default 60. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  SYSTEM_TASK_DEADLINE_SECONDS = 60;

  /** Tasks the dispatcher queues per (collection, func) batch. Default 1000. */
  @Transform(toInt) @Min(1) @Max(100000) @IsInt()
  DISPATCH_QUEUE_LIMIT = 1000;

  /**
   * Rows one dispatcher tick may change in all (queued, killed, sent back to pending), shared
   * evenly by the funcs with work; what is left over waits for the next tick. Default 300.
   */
  @Transform(toInt) @Min(1) @Max(10000000) @IsInt()
  DISPATCH_TICK_MAX_ROWS = 300;

  /** A func's queue holding at least this many messages is not topped up. Default 200. */
  @Transform(toInt) @Min(0) @Max(10000000) @IsInt()
  DISPATCH_MIN_QUEUE_SIZE = 200;

  /** The dispatcher never lets a func's queue grow past this. Default 20000. */
  @Transform(toInt) @Min(1) @Max(100000000) @IsInt()
  DISPATCH_MAX_QUEUE_SIZE = 20000;

  /** Rows `queued` this long with an empty broker queue are reset to pending, seconds. Default 120. */
  @Transform(toInt) @Min(1) @Max(86400) @IsInt()
  DISPATCH_QUEUED_GRACE_SECONDS = 120;

  /** Pending/deferred tasks younger than this are left to the workers, seconds. Default 60. */
  @Transform(toInt) @Min(0) @Max(86400) @IsInt()
  DISPATCH_MIN_AGE_SECONDS = 60;

  /** Snoop's retry tiers as `minutes:fail_limit` pairs (the `tiers` backoff; bulk funcs' retries). Default 5:3,150:6,5000:9. */
  @Matches(/^\d+:\d+(,\d+:\d+)*$/, { message: 'RETRY_TIERS must be minutes:fail_limit pairs, e.g. 5:3,150:6,5000:9' })
  RETRY_TIERS = '5:3,150:6,5000:9';

  /** `started` tasks this old (and with no advisory lock held) are declared dead, seconds. Default 60. */
  @Transform(toInt) @Min(1) @Max(864000) @IsInt()
  DEAD_TASK_AFTER_SECONDS = 60;

  /** Tasks per bulk batch. Default 300. */
  @Transform(toInt) @Min(1) @Max(100000) @IsInt()
  BULK_MAX_TASKS = 300;

  /** Bytes per bulk batch (size_bytes + overhead of each task). Default 31457280 (30 MiB). */
  @Transform(toInt) @Min(1024) @IsInt()
  BULK_MAX_BYTES = 31457280;

  /** Estimated overhead per bulk task, bytes. Default 2000. */
  @Transform(toInt) @Min(0) @IsInt()
  BULK_TASK_OVERHEAD_BYTES = 2000;

  /**
   * Collections made at boot, comma-separated `name[=root][:flags]`: `root` is the folder the
   * reference pipeline walks (no `,` or `:` in it); flags, joined by `+`, are `process`,
   * `noprocess`, `sync`. E.g. `docs=/srv/docs:sync,archive:noprocess`. Unset: with the pipeline on,
   * a `demo` collection over the bundled sample folder.
   */
  @Matches(/^([A-Za-z0-9_.-]{1,100}(=[^,:]+)?(:(process|noprocess|sync)(\+(process|noprocess|sync))*)?)?(,[A-Za-z0-9_.-]{1,100}(=[^,:]+)?(:(process|noprocess|sync)(\+(process|noprocess|sync))*)?)*$/, {
    message: 'COLLECTIONS must be comma-separated name[=root][:flag+flag] with flags process, noprocess, sync',
  })
  COLLECTIONS = '';

  /**
   * `laterz start` only: comma-separated paths (relative to the working directory) of compiled ES
   * modules, each exporting a Nest module with the task handlers to run. `--handlers` wins. An
   * isolate (WORKER_ISOLATION, a func's `isolation`) boots these same files. Default none.
   */
  @Transform(toList) @IsString({ each: true })
  LATERZ_HANDLERS: string[] = [];

  /** Register the reference pipeline's tasks (walk, digest, extract, index) and its search routes. Default true. */
  @Transform(({ value }) => (value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value))
  @IsBoolean({ message: 'PIPELINE_ENABLED must be true or false' })
  PIPELINE_ENABLED = true;

  /**
   * Admin API tokens, comma-separated `role:token` (role operator, enqueuer or viewer; token 16+
   * characters). Unset: in embedded mode an operator token is made at first start and kept under DATA_DIR.
   */
  @IsOptional() @Matches(/^(operator|enqueuer|viewer):[A-Za-z0-9_\-.~+/=]{16,}(,(operator|enqueuer|viewer):[A-Za-z0-9_\-.~+/=]{16,})*$/, {
    message: 'ADMIN_TOKENS must be comma-separated role:token pairs (role operator, enqueuer or viewer, token of 16+ characters)',
  })
  ADMIN_TOKENS?: string;

  /** Most rows one retry or cancel by filter touches. Default 10000. */
  @Transform(toInt) @Min(1) @Max(10000000) @IsInt()
  ADMIN_MAX_ROWS_PER_CALL = 10000;

  /** statement_timeout of the admin API's queries, and the longest wait for one of its connections, milliseconds. Default 5000. */
  @Transform(toInt) @Min(100) @Max(600000) @IsInt()
  ADMIN_STATEMENT_TIMEOUT_MS = 5000;

  /** Default handler timeout, seconds, for funcs that name none. Default 3600. */
  @Transform(toInt) @Min(1) @IsInt()
  TASK_DEFAULT_TIMEOUT_SECONDS = 3600;
}

export class EnvValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n  - ${problems.join('\n  - ')}`);
    this.name = 'EnvValidationError';
  }
}

const SECRETS = new Set(['DATABASE_URL', 'AMQP_URL', 'ADMIN_TOKENS']);

/** One bad variable: its name, its value as a message may show it (secrets redacted), and what is wrong. */
export interface EnvProblem {
  name: string;
  shown: string;
  message: string;
}

function describe(errors: ValidationError[]): EnvProblem[] {
  return errors.map((e) => ({
    name: e.property,
    shown: SECRETS.has(e.property) ? '(redacted)' : JSON.stringify(e.value),
    message: Object.values(e.constraints ?? {}).join('; '),
  }));
}

/** The names of every setting (EnvSchema's), for callers that check a name before its value. */
export function envSettingNames(): string[] {
  return [...new Set([...Object.keys(new EnvSchema()), 'DATABASE_URL', 'AMQP_URL', 'ADMIN_TOKENS'])];
}

/** Validates a raw environment: the settings, and every bad variable (none when the settings are good). */
export function checkEnv(raw: Readonly<Record<string, string | undefined>>): { env: EnvSchema; problems: EnvProblem[] } {
  const picked: Record<string, string> = {};
  for (const key of envSettingNames()) {
    const value = raw[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const env = plainToInstance(EnvSchema, picked, { exposeDefaultValues: true });
  return { env, problems: describe(validateSync(env, { forbidUnknownValues: true, stopAtFirstError: true })) };
}

/** Validates a raw environment; throws one error naming every bad variable. */
export function validateEnv(raw: Record<string, string | undefined>): EnvSchema {
  const { env, problems } = checkEnv(raw);
  if (problems.length > 0) throw new EnvValidationError(problems.map((p) => `${p.name}=${p.shown}: ${p.message}`));
  return env;
}
