import { AppConfig } from './app-config.js';
import { EnvValidationError, validateEnv } from './env.schema.js';

function problemsOf(raw: Record<string, string | undefined>): EnvValidationError {
  try {
    validateEnv(raw);
  } catch (err) {
    if (err instanceof EnvValidationError) return err;
    throw err;
  }
  throw new Error('expected validateEnv to fail');
}

describe('validateEnv', () => {
  it('fills every default from an empty environment', () => {
    const env = validateEnv({});
    expect(env).toMatchObject({
      PORT: 3000,
      ROLES: ['api', 'worker', 'scheduler'],
      DATABASE_URL: undefined,
      DATA_DIR: './data',
      EMBEDDED_PG_PORT: 54329,
      DB_SCHEMA: 'laterz',
      DB_POOL_SIZE: 10,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'auto',
      SHUTDOWN_GRACE_SECONDS: 30,
      AMQP_URL: undefined,
      AMQP_PREFIX: 'laterz',
      AMQP_QUEUE_TYPE: 'classic',
      WORKER_CONCURRENCY: 64,
      WORKER_BATCH_SIZE: 100,
      WORKER_QUEUES: [],
      WORKER_MAX_TASKS: 0,
      WORKER_POLL_MS: 1000,
      FUNC_HEARTBEAT_SECONDS: 15,
      HANDLER_GUARD: 'exit',
      TASK_RESULT_MAX_BYTES: 1048576,
      TASK_ARGS_MAX_BYTES: 65536,
      TASK_LOG_MAX_BYTES: 65536,
      TASK_ATTEMPTS_KEPT: 10,
      TASK_DEFAULT_TIMEOUT_SECONDS: 3600,
    });
  });

  it('treats an empty value as unset', () => {
    expect(validateEnv({ PORT: '', ROLES: '', DATABASE_URL: '' })).toMatchObject({ PORT: 3000, ROLES: ['api', 'worker', 'scheduler'], DATABASE_URL: undefined });
  });

  it('parses numbers and comma-separated lists, trimming spaces', () => {
    const env = validateEnv({ PORT: ' 8080 ', ROLES: 'api, worker', WORKER_QUEUES: 'a, b,,c', DB_POOL_SIZE: '4' });
    expect(env.PORT).toBe(8080);
    expect(env.ROLES).toEqual(['api', 'worker']);
    expect(env.WORKER_QUEUES).toEqual(['a', 'b', 'c']);
    expect(env.DB_POOL_SIZE).toBe(4);
  });

  it('ignores variables it does not know', () => {
    expect(() => validateEnv({ HOME: '/root', SOMETHING_ELSE: 'x' })).not.toThrow();
  });

  it('names every bad variable and what it expects, in one error', () => {
    const err = problemsOf({ PORT: 'abc', ROLES: 'foo' });
    expect(err.problems).toHaveLength(2);
    const port = err.problems.find((p) => p.startsWith('PORT='));
    const roles = err.problems.find((p) => p.startsWith('ROLES='));
    expect(port).toContain('"abc"');
    expect(port).toMatch(/integer/);
    expect(roles).toContain('foo');
    expect(roles).toMatch(/api, worker, scheduler/);
    expect(err.message).toMatch(/^Invalid environment:/);
    expect(err.message).toContain('PORT=');
    expect(err.message).toContain('ROLES=');
  });

  it.each([
    ['PORT', '70000', /not be greater than 65535/],
    ['PORT', '-1', /not be less than 0/],
    ['PORT', '3000.5', /integer/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of/],
    ['LOG_FORMAT', 'xml', /LOG_FORMAT must be one of/],
    ['DB_SCHEMA', 'Bad-Schema', /lower-case SQL identifier/],
    ['DB_POOL_SIZE', '1', /not be less than 2/],
    ['AMQP_QUEUE_TYPE', 'stream', /AMQP_QUEUE_TYPE must be one of/],
    ['WORKER_CONCURRENCY', '0', /not be less than 1/],
    ['HANDLER_GUARD', 'on', /HANDLER_GUARD must be one of/],
    ['FUNC_HEARTBEAT_SECONDS', '0', /not be less than 1/],
    ['TASK_ARGS_MAX_BYTES', '10', /not be less than 256/],
  ])('rejects %s=%s', (name, value, expected) => {
    const err = problemsOf({ [name]: value });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0].startsWith(`${name}=`)).toBe(true);
    expect(err.problems[0]).toMatch(expected);
  });

  it('never shows the value of DATABASE_URL or AMQP_URL, valid or not', () => {
    const secretDb = 'mysql://admin:db-hunter2@db.internal:3306/prod';
    const secretAmqp = 'http://guest:amqp-s3cret@mq.internal:5672';
    const err = problemsOf({ DATABASE_URL: secretDb, AMQP_URL: secretAmqp, PORT: 'abc' });
    expect(err.problems).toHaveLength(3);
    expect(err.message).toContain('DATABASE_URL');
    expect(err.message).toContain('AMQP_URL');
    expect(err.message).toMatch(/postgres:\/\/ or postgresql:\/\//);
    expect(err.message).toMatch(/amqp:\/\/ or amqps:\/\//);
    for (const secret of ['db-hunter2', 'amqp-s3cret', 'db.internal', 'mq.internal', 'admin']) expect(err.message).not.toContain(secret);

    const withGoodUrls = problemsOf({ DATABASE_URL: 'postgres://u:pg-s3cret@h/db', AMQP_URL: 'amqp://u:mq-s3cret@h', ROLES: 'nope' });
    expect(withGoodUrls.problems).toHaveLength(1);
    expect(withGoodUrls.message).not.toContain('pg-s3cret');
    expect(withGoodUrls.message).not.toContain('mq-s3cret');
  });

  it('never shows ADMIN_TOKENS, not even a malformed one', () => {
    const err = problemsOf({ ADMIN_TOKENS: 'root:tok-0123456789abcdef-secret' });
    expect(err.problems).toHaveLength(1);
    expect(err.message).toContain('ADMIN_TOKENS=(redacted)');
    expect(err.message).not.toContain('tok-0123456789abcdef-secret');
  });

  it('accepts postgres and amqp URLs', () => {
    const env = validateEnv({ DATABASE_URL: 'postgresql://u:p@h:5432/db', AMQP_URL: 'amqps://u:p@h/vhost' });
    expect(env.DATABASE_URL).toBe('postgresql://u:p@h:5432/db');
    expect(env.AMQP_URL).toBe('amqps://u:p@h/vhost');
  });
});

describe('AppConfig', () => {
  it('maps the schema to typed settings with units converted', () => {
    const config = AppConfig.fromEnv({ ROLES: 'worker', SHUTDOWN_GRACE_SECONDS: '7', TASK_DEFAULT_TIMEOUT_SECONDS: '2', WORKER_QUEUES: 'q1' });
    expect(config.has('worker')).toBe(true);
    expect(config.has('api')).toBe(false);
    expect(config.shutdownGraceMs).toBe(7000);
    expect(config.limits.defaultTimeoutMs).toBe(2000);
    expect(config.worker.queues).toEqual(['q1']);
  });

  it('derives a copy with overrides and validates it again', () => {
    const config = AppConfig.fromEnv({ PORT: '4000', ROLES: 'api' });
    const copy = config.with({ PORT: '5000' });
    expect(copy.port).toBe(5000);
    expect(copy.has('api')).toBe(true);
    expect(copy.has('worker')).toBe(false);
    expect(() => config.with({ PORT: 'x' })).toThrow(EnvValidationError);
  });
});
