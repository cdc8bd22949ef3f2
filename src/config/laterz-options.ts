import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppConfig } from './app-config.js';
import { ADMIN_ROLES, AdminRole, checkEnv, EnvSchema, envSettingNames, Role, ROLES } from './env.schema.js';

/**
 * Settings of the service alone (its HTTP server, its logs, its env file, its roles, its handlers
 * files and the demo): an app has its own, so `settings` refuses them.
 */
const SERVICE_ONLY = ['ENV_FILE', 'PORT', 'ROLES', 'LOG_LEVEL', 'LOG_FORMAT', 'PIPELINE_ENABLED', 'LATERZ_HANDLERS'] as const;

/** A setting `LaterzModule` takes in `settings`: any variable of docs/configuration.md but the service's own. */
export type LaterzSettingName = Exclude<keyof EnvSchema, (typeof SERVICE_ONLY)[number]>;

/** A token of the admin API: a viewer reads, an enqueuer also enqueues, an operator also changes (16+ characters of A-Z a-z 0-9 _ - . ~ + / =). */
export interface LaterzApiToken {
  role: AdminRole;
  token: string;
}

export interface LaterzApiOptions {
  /** Path the admin routes are mounted under (`/<prefix>/api/tasks`, `/<prefix>/metrics`, `/<prefix>/health/ready`). Default 'laterz'. */
  prefix?: string;
  /** Needed when the database is a URL; on the embedded database an operator token is made under its dataDir when none is given. */
  tokens?: LaterzApiToken[];
}

/** What `LaterzModule.forRoot` takes. Every field is optional. */
export interface LaterzOptions {
  /** What this app does besides enqueueing: run its handlers (worker), run the maintenance jobs (scheduler). Default ['worker', 'scheduler']; [] for an app that only enqueues. */
  roles?: Role[];
  /** laterz's own pool on a URL, or an embedded PostgreSQL. Default: DATABASE_URL from the environment, else the embedded server under ./data. */
  database?: { url: string } | { embedded: { dataDir?: string; port?: number } };
  /** Schema of laterz's tables (DB_SCHEMA). Default 'laterz'. */
  schema?: string;
  /** The queue: PostgreSQL itself, or RabbitMQ. Default: AMQP_URL from the environment, else 'postgres'. */
  transport?: 'postgres' | { amqpUrl: string; prefix?: string };
  /** The admin API (REST, /metrics, health) mounted under a prefix; false mounts nothing. Default false. */
  api?: false | LaterzApiOptions;
  /** Any other setting of docs/configuration.md by its variable name, validated as the service validates its environment; the fields above win. */
  settings?: Partial<Record<LaterzSettingName, string | number | boolean>>;
  /** Apply laterz's migrations at start (under an advisory lock, so instances starting together apply them once). Default true. */
  migrate?: boolean;
  /**
   * The compiled files (paths or file: URLs) of the Nest modules that hold your isolated handlers
   * (a func's `isolation`, or WORKER_ISOLATION): each worker thread or child process boots them
   * and runs their @TaskHandler methods. Needed only with isolation. Default none.
   */
  handlers?: (string | URL)[];
  /**
   * Run every task in the caller: an enqueue (outside your own transaction) runs the task and the
   * DAG it makes runnable through the worker's claim, run and finish before it resolves; nothing
   * runs in the background. For tests and scripts. Default false.
   */
  inline?: boolean;
}

/**
 * Who moves the work. 'consumers': the worker role's consumer and the scheduler role's timers (an
 * app, the service). 'caller': nothing moves by itself; LaterzTesting's runUntilIdle() runs what is
 * runnable. 'inline': as 'caller', and each enqueue runs what it made runnable before it resolves.
 */
export type LaterzDrive = 'consumers' | 'caller' | 'inline';

/** What LaterzModule makes of its options: the typed settings every module injects, and whether it migrates. */
export class LaterzSetup {
  constructor(
    readonly config: AppConfig,
    readonly migrate: boolean,
    readonly drive: LaterzDrive = 'consumers',
  ) {}
}

/** Options that are wrong: each problem names its field (`database.url`, `settings.WORKER_CONCURRENCY`, …). */
export class InvalidLaterzOptions extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid LaterzModule options:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidLaterzOptions';
  }
}

/** The roles of an app when `roles` is left out. */
export const APP_ROLES: readonly Role[] = ['worker', 'scheduler'];
/** The admin API's prefix when `api` leaves it out. */
export const DEFAULT_API_PREFIX = 'laterz';

const OPTION_FIELDS = ['roles', 'database', 'schema', 'transport', 'api', 'settings', 'migrate', 'inline', 'handlers'];
const SEGMENT = /^[A-Za-z0-9._~-]+$/;
const TOKEN_SHAPE = /^[A-Za-z0-9_\-.~+/=]{16,}$/;

type Raw = Record<string, string | undefined>;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where the module is mounted and what it runs: decided when the module is defined (before any provider). */
export interface LaterzShape {
  roles: Role[];
  /** The admin API's path prefix ('' for the root), or false: no API. */
  apiPrefix: string | false;
  drive: LaterzDrive;
}

type ShapeOptions = Pick<LaterzOptions, 'roles' | 'api' | 'inline'>;

/**
 * `roles`, `api` and `inline` checked, with their defaults: they decide which modules Nest builds.
 * `drive` (LaterzTesting) overrides what `inline` says.
 */
export function laterzShape(options: ShapeOptions, drive?: LaterzDrive): LaterzShape {
  const problems: string[] = [];
  const shape = shapeOf(options, problems, drive);
  if (problems.length > 0) throw new InvalidLaterzOptions(problems);
  return shape;
}

function shapeOf(options: ShapeOptions, problems: string[], given?: LaterzDrive): LaterzShape {
  if (options.inline !== undefined && typeof options.inline !== 'boolean') problems.push('inline: must be true or false');
  const drive = given ?? (options.inline === true ? 'inline' : 'consumers');
  const roles: Role[] = [];
  if (options.roles === undefined) roles.push(...APP_ROLES);
  else if (!Array.isArray(options.roles)) problems.push(`roles: must be an array of ${ROLES.filter((r) => r !== 'api').join(', ')}`);
  else {
    options.roles.forEach((role: unknown, i) => {
      if (!ROLES.includes(role as Role)) problems.push(`roles[${i}]: ${JSON.stringify(role)} is not a role (worker, scheduler; the admin API is the api option)`);
      else if (role === 'api' && !options.api) problems.push(`roles[${i}]: 'api' needs the api option (api: { prefix, tokens })`);
      else if (!roles.includes(role as Role)) roles.push(role as Role);
    });
  }
  if (drive !== 'consumers' && options.roles !== undefined && !(roles.includes('worker') && roles.includes('scheduler'))) {
    problems.push('roles: inline, every task runs in the caller (the worker and scheduler roles, without their consumer and timers): leave roles out');
  }
  const api = options.api ?? false;
  if (api === false) return { roles: roles.filter((r) => r !== 'api'), apiPrefix: false, drive };
  if (!isObject(api)) {
    problems.push('api: must be false or { prefix?, tokens? }');
    return { roles, apiPrefix: false, drive };
  }
  for (const key of Object.keys(api)) if (key !== 'prefix' && key !== 'tokens') problems.push(`api.${key}: not an api option (prefix, tokens)`);
  const prefix = api.prefix ?? DEFAULT_API_PREFIX;
  const segments = typeof prefix === 'string' ? prefix.split('/').filter((s) => s.length > 0) : undefined;
  if (!segments || !segments.every((s) => SEGMENT.test(s))) {
    problems.push(`api.prefix: ${JSON.stringify(prefix)} must be a URL path of letters, digits and . _ ~ - (e.g. 'laterz' or 'admin/laterz')`);
  }
  return { roles: roles.includes('api') ? roles : [...roles, 'api'], apiPrefix: (segments ?? []).join('/'), drive };
}

/**
 * The settings of `options`, validated: typed fields over `settings`; from the environment only
 * DATABASE_URL (when neither `database` nor `settings.DATABASE_URL` is given) and AMQP_URL (when
 * neither `transport` nor `settings.AMQP_URL` is, and the work is moved by consumers). No env file
 * is read. `drive` as in laterzShape. Throws InvalidLaterzOptions naming every wrong field.
 */
export function laterzSetup(options: LaterzOptions, env: Readonly<Raw> = process.env, drive?: LaterzDrive): LaterzSetup {
  const problems: string[] = [];
  if (!isObject(options)) throw new InvalidLaterzOptions(['options: must be an object']);
  for (const key of Object.keys(options)) {
    if (!OPTION_FIELDS.includes(key)) problems.push(`${key}: not a LaterzModule option (${OPTION_FIELDS.join(', ')})`);
  }
  const shape = shapeOf(options, problems, drive);
  // Each variable's field, for the problems the env schema finds.
  const origin = new Map<string, string>();
  const raw: Raw = {};
  const set = (name: string, value: string | undefined, field: string) => {
    raw[name] = value;
    origin.set(name, field);
  };

  settingsInto(options.settings, set, problems);
  databaseInto(options.database, set, problems);
  if (options.database === undefined && raw.DATABASE_URL === undefined && env.DATABASE_URL) set('DATABASE_URL', env.DATABASE_URL, 'DATABASE_URL (environment)');
  if (options.schema !== undefined) set('DB_SCHEMA', String(options.schema), 'schema');
  if (shape.drive === 'consumers') {
    transportInto(options.transport, set, problems);
    if (options.transport === undefined && raw.AMQP_URL === undefined && env.AMQP_URL) set('AMQP_URL', env.AMQP_URL, 'AMQP_URL (environment)');
  } else {
    callerDriven(options, raw, set, problems);
  }
  if (options.migrate !== undefined && typeof options.migrate !== 'boolean') problems.push('migrate: must be true or false');
  handlersInto(options.handlers, set, problems);
  if (shape.apiPrefix !== false) tokensInto(isObject(options.api) ? options.api.tokens : undefined, set, problems);
  if (shape.roles.length > 0) set('ROLES', shape.roles.join(','), 'roles');

  const checked = checkEnv(raw);
  for (const p of checked.problems) {
    const given = p.shown === '(redacted)' ? '' : ` (given ${p.shown})`;
    problems.push(`${origin.get(p.name) ?? `settings.${p.name}`}: ${p.message}${given}`);
  }
  if (shape.apiPrefix !== false && !checked.env.ADMIN_TOKENS && checked.env.DATABASE_URL) {
    problems.push('api.tokens: the admin API needs a token when the database is a URL (on the embedded database one is made under its dataDir)');
  }
  if (problems.length > 0) throw new InvalidLaterzOptions(problems);
  // An app may play no role (it only enqueues), which ROLES, the service's setting, refuses.
  checked.env.ROLES = shape.roles;
  return new LaterzSetup(new AppConfig(checked.env, raw), options.migrate !== false, shape.drive);
}

/**
 * Work moved by the caller: the queued rows are the queue (no transport to name), and pending or
 * deferred tasks are dispatched at once (DISPATCH_MIN_AGE_SECONDS 0, unless settings say otherwise).
 */
function callerDriven(options: LaterzOptions, raw: Raw, set: Assign, problems: string[]): void {
  const why = 'inline, every task runs in the caller, through no transport: leave it out';
  if (options.transport !== undefined) problems.push(`transport: ${why}`);
  if (raw.AMQP_URL !== undefined) problems.push(`settings.AMQP_URL: ${why}`);
  if (raw.DISPATCH_MIN_AGE_SECONDS === undefined) set('DISPATCH_MIN_AGE_SECONDS', '0', 'inline');
}

type Assign = (name: string, value: string | undefined, field: string) => void;

function settingsInto(settings: unknown, set: Assign, problems: string[]): void {
  if (settings === undefined) return;
  if (!isObject(settings)) {
    problems.push('settings: must be an object of setting names (docs/configuration.md) to values');
    return;
  }
  const known = new Set(envSettingNames());
  for (const [name, value] of Object.entries(settings)) {
    if ((SERVICE_ONLY as readonly string[]).includes(name)) {
      problems.push(`settings.${name}: a setting of the service alone; in an app ${name === 'ROLES' ? 'use roles' : 'your app decides it'}`);
    } else if (!known.has(name)) {
      problems.push(`settings.${name}: not a laterz setting (docs/configuration.md lists them)`);
    } else if (!['string', 'number', 'boolean'].includes(typeof value)) {
      problems.push(`settings.${name}: must be a string, number or boolean`);
    } else {
      set(name, String(value), `settings.${name}`);
    }
  }
}

function databaseInto(database: unknown, set: Assign, problems: string[]): void {
  if (database === undefined) return;
  const shape = 'database: must be { url } or { embedded: { dataDir?, port? } }';
  if (!isObject(database) || Object.keys(database).length !== 1 || !('url' in database || 'embedded' in database)) {
    problems.push(shape);
    return;
  }
  if ('url' in database) {
    if (typeof database.url !== 'string') problems.push('database.url: must be a postgres:// URL');
    else set('DATABASE_URL', database.url, 'database.url');
    return;
  }
  const embedded = database.embedded;
  if (!isObject(embedded)) {
    problems.push('database.embedded: must be { dataDir?, port? }');
    return;
  }
  // The embedded server: whatever DATABASE_URL says elsewhere.
  set('DATABASE_URL', undefined, 'database');
  for (const key of Object.keys(embedded)) if (key !== 'dataDir' && key !== 'port') problems.push(`database.embedded.${key}: not an option (dataDir, port)`);
  if (embedded.dataDir !== undefined) {
    if (typeof embedded.dataDir !== 'string' || embedded.dataDir === '') problems.push('database.embedded.dataDir: must be a folder path');
    else set('DATA_DIR', embedded.dataDir, 'database.embedded.dataDir');
  }
  if (embedded.port !== undefined) set('EMBEDDED_PG_PORT', String(embedded.port), 'database.embedded.port');
}

function transportInto(transport: unknown, set: Assign, problems: string[]): void {
  if (transport === undefined) return;
  if (transport === 'postgres') {
    set('AMQP_URL', undefined, 'transport');
    return;
  }
  if (!isObject(transport) || typeof transport.amqpUrl !== 'string') {
    problems.push("transport: must be 'postgres' or { amqpUrl, prefix? }");
    return;
  }
  for (const key of Object.keys(transport)) if (key !== 'amqpUrl' && key !== 'prefix') problems.push(`transport.${key}: not an option (amqpUrl, prefix)`);
  set('AMQP_URL', transport.amqpUrl, 'transport.amqpUrl');
  if (transport.prefix !== undefined) set('AMQP_PREFIX', String(transport.prefix), 'transport.prefix');
}

/** `handlers`: absolute paths of existing files (LATERZ_HANDLERS, a list with commas between). */
function handlersInto(handlers: unknown, set: Assign, problems: string[]): void {
  if (handlers === undefined) return;
  if (!Array.isArray(handlers)) {
    problems.push('handlers: must be an array of file paths or file: URLs (the compiled modules of your isolated handlers)');
    return;
  }
  const files: string[] = [];
  handlers.forEach((entry: unknown, i) => {
    let file: string | undefined;
    if (entry instanceof URL && entry.protocol === 'file:') file = fileURLToPath(entry);
    else if (typeof entry === 'string' && entry !== '') file = entry.startsWith('file:') ? fileURLToPath(entry) : resolve(entry);
    if (file === undefined) problems.push(`handlers[${i}]: must be a file path or a file: URL (given ${JSON.stringify(entry)})`);
    else if (file.includes(',')) problems.push(`handlers[${i}]: ${file}: a path with a comma cannot be used`);
    else if (!existsSync(file)) problems.push(`handlers[${i}]: ${file} does not exist (give the compiled .js module)`);
    else files.push(file);
  });
  if (files.length > 0) set('LATERZ_HANDLERS', files.join(','), 'handlers');
}

function tokensInto(tokens: unknown, set: Assign, problems: string[]): void {
  if (tokens === undefined) return;
  if (!Array.isArray(tokens)) {
    problems.push('api.tokens: must be an array of { role, token }');
    return;
  }
  const pairs: string[] = [];
  tokens.forEach((t: unknown, i) => {
    if (!isObject(t) || !(ADMIN_ROLES as readonly unknown[]).includes(t.role)) problems.push(`api.tokens[${i}].role: must be 'operator', 'enqueuer' or 'viewer'`);
    else if (typeof t.token !== 'string' || !TOKEN_SHAPE.test(t.token)) problems.push(`api.tokens[${i}].token: must be 16+ characters of A-Z a-z 0-9 _ - . ~ + / =`);
    else pairs.push(`${t.role}:${t.token}`);
  });
  if (pairs.length > 0 && pairs.length === tokens.length) set('ADMIN_TOKENS', pairs.join(','), 'api.tokens');
}
