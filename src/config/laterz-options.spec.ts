import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidLaterzOptions, laterzSetup, laterzShape } from './laterz-options.js';

const URL_A = 'postgres://app@db-a/shop';
const URL_B = 'postgres://app@db-b/shop';

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof InvalidLaterzOptions) return err.problems;
    throw err;
  }
  throw new Error('expected InvalidLaterzOptions');
}

describe('laterzSetup: LaterzModule options to settings', () => {
  it('reads no environment variable but DATABASE_URL and AMQP_URL, and those only when the option is absent', () => {
    const env = { DATABASE_URL: URL_A, AMQP_URL: 'amqp://rabbit', WORKER_CONCURRENCY: '3', DB_SCHEMA: 'elsewhere', ROLES: 'api' };
    const fromEnv = laterzSetup({}, env).config;
    expect(fromEnv.databaseUrl).toBe(URL_A);
    expect(fromEnv.amqp.url).toBe('amqp://rabbit');
    expect(fromEnv.worker.concurrency).toBe(64);
    expect(fromEnv.dbSchema).toBe('laterz');
    expect([...fromEnv.roles]).toEqual(['worker', 'scheduler']);

    const explicit = laterzSetup({ database: { url: URL_B }, transport: 'postgres' }, env).config;
    expect(explicit.databaseUrl).toBe(URL_B);
    expect(explicit.amqp.url).toBeUndefined();

    const embedded = laterzSetup({ database: { embedded: { dataDir: '/var/lib/shop', port: 5544 } } }, env).config;
    expect(embedded).toMatchObject({ databaseUrl: undefined, dataDir: '/var/lib/shop', embeddedPgPort: 5544 });
    // Nothing given anywhere: the embedded server under ./data.
    expect(laterzSetup({}, {}).config).toMatchObject({ databaseUrl: undefined, dataDir: './data', embeddedPgPort: 54329 });
  });

  it('takes any documented setting by name, typed fields winning over settings', () => {
    const { config, migrate } = laterzSetup(
      { database: { url: URL_B }, schema: 'shop_jobs', settings: { DATABASE_URL: URL_A, DB_SCHEMA: 'ignored', WORKER_CONCURRENCY: 8, RETRY_TIERS: '1:2', HANDLER_GUARD: 'full' }, migrate: false },
      {},
    );
    expect(config).toMatchObject({ databaseUrl: URL_B, dbSchema: 'shop_jobs', handlerGuard: 'full' });
    expect(config.worker.concurrency).toBe(8);
    expect(config.dispatch.retryTiers).toEqual([{ minutes: 1, failLimit: 2 }]);
    expect(migrate).toBe(false);
    // settings.DATABASE_URL stands in for the option; the environment is not read then.
    expect(laterzSetup({ settings: { DATABASE_URL: URL_A } }, { DATABASE_URL: URL_B }).config.databaseUrl).toBe(URL_A);
  });

  it('roles: worker and scheduler by default, none for an app that only enqueues; api with the api option', () => {
    expect([...laterzSetup({ roles: [] }, {}).config.roles]).toEqual([]);
    expect([...laterzSetup({ roles: ['worker'] }, {}).config.roles]).toEqual(['worker']);
    const withApi = laterzSetup({ database: { url: URL_A }, api: { tokens: [{ role: 'operator', token: 'operator-token-0123456789' }] } }, {}).config;
    expect([...withApi.roles]).toEqual(['worker', 'scheduler', 'api']);
    expect(withApi.admin.tokens).toEqual([{ role: 'operator', token: 'operator-token-0123456789' }]);
    expect(laterzShape({ api: { prefix: '/admin/laterz/' } }).apiPrefix).toBe('admin/laterz');
    expect(laterzShape({}).apiPrefix).toBe(false);
    expect(laterzShape({ api: {} }).apiPrefix).toBe('laterz');
  });

  it('inline: moved by the caller, through no transport (AMQP_URL of the environment ignored), pending tasks dispatched at once', () => {
    const env = { DATABASE_URL: URL_A, AMQP_URL: 'amqp://rabbit' };
    expect(laterzShape({}).drive).toBe('consumers');
    expect(laterzShape({ inline: true }).drive).toBe('inline');
    expect(laterzShape({}, 'caller').drive).toBe('caller');
    const inline = laterzSetup({ inline: true }, env);
    expect(inline.drive).toBe('inline');
    expect(inline.config.amqp.url).toBeUndefined();
    expect(inline.config.databaseUrl).toBe(URL_A);
    expect(inline.config.dispatch.minAgeSeconds).toBe(0);
    expect([...inline.config.roles]).toEqual(['worker', 'scheduler']);
    expect(laterzSetup({ inline: true, settings: { DISPATCH_MIN_AGE_SECONDS: 5 } }, {}).config.dispatch.minAgeSeconds).toBe(5);
    expect(laterzSetup({}, {}, 'caller')).toMatchObject({ drive: 'caller' });
    expect(laterzSetup({}, env)).toMatchObject({ drive: 'consumers', config: { amqp: { url: 'amqp://rabbit' }, dispatch: { minAgeSeconds: 60 } } });
    expect(laterzSetup({ inline: false }, env).drive).toBe('consumers');
    expect(laterzSetup({ inline: true, roles: ['scheduler', 'worker'] }, {}).drive).toBe('inline');
    expect(problems(() => laterzSetup({ inline: true, roles: [], transport: 'postgres', settings: { AMQP_URL: 'amqp://x' } }, {}))).toEqual([
      'roles: inline, every task runs in the caller (the worker and scheduler roles, without their consumer and timers): leave roles out',
      'transport: inline, every task runs in the caller, through no transport: leave it out',
      'settings.AMQP_URL: inline, every task runs in the caller, through no transport: leave it out',
    ]);
    expect(problems(() => laterzShape({ inline: 1 as never }))).toEqual(['inline: must be true or false']);
  });

  it('handlers: the files isolates boot, as absolute paths from paths or file: URLs; a missing or malformed one is named', () => {
    const here = fileURLToPath(import.meta.url);
    const config = laterzSetup({ database: { url: URL_A }, handlers: [here, new URL(import.meta.url), relative(process.cwd(), here)] }, {}).config;
    expect(config.handlers).toEqual([here, here, here]);
    expect(problems(() => laterzSetup({ database: { url: URL_A }, handlers: ['/no/such/handlers.js', 42] as never }, {}))).toEqual([
      'handlers[0]: /no/such/handlers.js does not exist (give the compiled .js module)',
      'handlers[1]: must be a file path or a file: URL (given 42)',
    ]);
    expect(problems(() => laterzSetup({ database: { url: URL_A }, handlers: './x.js' as never }, {}))).toEqual([
      'handlers: must be an array of file paths or file: URLs (the compiled modules of your isolated handlers)',
    ]);
  });

  it('names every wrong field, and where a bad value came from', () => {
    expect(problems(() => laterzSetup({}, { DATABASE_URL: 'mysql://x' }))).toEqual(['DATABASE_URL (environment): DATABASE_URL must be a postgres:// or postgresql:// URL']);
    expect(
      problems(() =>
        laterzSetup(
          {
            roles: ['worker', 'nope' as never],
            database: { embedded: { dataDir: '', size: 1 } as never },
            transport: { amqpUrl: 'amqp://r', prefix: 'bad prefix' },
            settings: { ENV_FILE: '.env', WORKER_POLL_MS: 'soon', SOMETHING: 1 } as never,
            migrate: 'yes' as never,
          },
          {},
        ),
      ),
    ).toEqual([
      'roles[1]: "nope" is not a role (worker, scheduler; the admin API is the api option)',
      'settings.ENV_FILE: a setting of the service alone; in an app your app decides it',
      'settings.SOMETHING: not a laterz setting (docs/configuration.md lists them)',
      'database.embedded.size: not an option (dataDir, port)',
      'database.embedded.dataDir: must be a folder path',
      'migrate: must be true or false',
      'transport.prefix: AMQP_PREFIX must be 1-64 letters, digits, _ . - (given "bad prefix")',
      'settings.WORKER_POLL_MS: WORKER_POLL_MS must be an integer number (given "soon")',
    ]);
  });

  it('api.tokens: operator, enqueuer and viewer tokens; another role is named', () => {
    const tokens = [
      { role: 'operator' as const, token: 'operator-token-0123456789' },
      { role: 'enqueuer' as const, token: 'enqueuer-token-0123456789' },
      { role: 'viewer' as const, token: 'viewer-token-0123456789' },
    ];
    expect(laterzSetup({ database: { url: URL_A }, api: { tokens } }, {}).config.admin.tokens).toEqual(tokens);
    expect(problems(() => laterzSetup({ database: { url: URL_A }, api: { tokens: [{ role: 'admin' as never, token: 'admin-token-0123456789' }] } }, {}))).toEqual([
      "api.tokens[0].role: must be 'operator', 'enqueuer' or 'viewer'",
      'api.tokens: the admin API needs a token when the database is a URL (on the embedded database one is made under its dataDir)',
    ]);
  });
});
