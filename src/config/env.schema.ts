import { plainToInstance, Transform } from 'class-transformer';
import {
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
  /** HTTP port for the API, health and metrics (0: any free port). Default 3000. */
  @Transform(toInt) @Min(0) @Max(65535) @IsInt()
  PORT = 3000;

  /** Comma-separated roles this process plays: api, worker, scheduler. Default all three. */
  @Transform(toList) @IsIn(ROLES, { each: true, message: 'ROLES must be a comma-separated list of api, worker, scheduler' })
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

  /** json, pretty, or auto (pretty when stdout is a terminal). Default auto. */
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

  /** Milliseconds an idle PostgreSQL-queue worker waits for a NOTIFY before polling. Default 1000. */
  @Transform(toInt) @Min(10) @Max(60000) @IsInt()
  WORKER_POLL_MS = 1000;

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

function describe(errors: ValidationError[]): string[] {
  return errors.map((e) => {
    const shown = e.property === 'DATABASE_URL' || e.property === 'AMQP_URL' ? '(redacted)' : JSON.stringify(e.value);
    return `${e.property}=${shown}: ${Object.values(e.constraints ?? {}).join('; ')}`;
  });
}

/** Validates a raw environment; throws one error naming every bad variable. */
export function validateEnv(raw: Record<string, string | undefined>): EnvSchema {
  const known = Object.keys(new EnvSchema());
  const picked: Record<string, string> = {};
  for (const key of [...known, 'DATABASE_URL', 'AMQP_URL']) {
    const value = raw[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const env = plainToInstance(EnvSchema, picked, { exposeDefaultValues: true });
  const errors = validateSync(env, { forbidUnknownValues: true, stopAtFirstError: true });
  if (errors.length > 0) throw new EnvValidationError(describe(errors));
  return env;
}
