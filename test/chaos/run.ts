import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import { Client } from 'pg';
import { AmqpBroker } from '../../src/broker/amqp/amqp.broker.js';
import { Broker, brokerQueueName, PublishPriority } from '../../src/broker/broker.js';
import { PostgresBroker } from '../../src/broker/postgres.broker.js';
import { Db } from '../../src/database/db.js';
import { ListenClient } from '../../src/database/listen-client.js';
import { NO_ENV_FILE } from '../../src/config/env-file.js';
import { scratchAmqpPrefix, scratchId } from '../../src/config/scratch-names.js';
import { EmbeddedPostgresServer } from '../../src/database/embedded-postgres.js';
import { ChaosDb, TaskSpec } from './chaos-db.js';
import { CHAOS_FUNCS } from './chaos-handlers.js';
import { CHAOS_ISOLATION_FUNCS } from './chaos-isolation-handlers.js';
import { check, Fault, Figures } from './checker.js';
import { checkerSelfTest } from './checker-self-test.js';
import { Cluster, Role } from './cluster.js';
import { readExecutions, wallMs } from './execution-log.js';
import { ALLOWED_ATTEMPTS, BROKER_RESTART_SCENARIO, ChaosOptions, parseOptions, RETRY_TIERS, SETTLE_LIMIT_MS, Sizes, USAGE } from './options.js';
import { RabbitMq } from './rabbitmq.js';
import { countFaults, formatChecks, formatTable, ScenarioResult, writeResults } from './report.js';
import { baseChecks, CheckResult, FaultContext, IsolationKind, LoadMix, Scenario, SCENARIOS } from './scenarios.js';

/** Every func of the suite: queues to declare and delete. */
const ALL_FUNCS: string[] = [...Object.values(CHAOS_FUNCS), ...Object.values(CHAOS_ISOLATION_FUNCS)];

/** The compiled tree this file runs from (<root>/dist). */
const DIST_DIR = fileURLToPath(new URL('../../', import.meta.url));
const SEED_WAVE_MS = 500;
const MONITOR_MS = 500;

/**
 * Copies the build into the run's folder and returns the child script there: the processes of a
 * long run all start from the code the run began with, even if someone rebuilds dist/ meanwhile
 * (`nest build` empties it, which would also remove the compiled suite).
 */
function snapshotBuild(tmp: string): string {
  const build = join(tmp, 'build');
  cpSync(DIST_DIR, join(build, 'dist'), { recursive: true, filter: (source) => !source.endsWith('.map') });
  writeFileSync(join(build, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  symlinkSync(nodeModules(DIST_DIR), join(build, 'node_modules'), 'dir');
  return join(build, 'dist', 'test', 'chaos', 'chaos-process.js');
}

/** The node_modules folder the build resolves its packages from: the nearest one above it. */
function nodeModules(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');
    if (dirname(dir) === dir) throw new Error(`no node_modules above ${from}`);
  }
}

/** What every scenario run shares: the private PostgreSQL server, the broker, the temp folder. */
interface Suite {
  options: ChaosOptions;
  pg: EmbeddedPostgresServer;
  serverUrl: string;
  rabbit?: RabbitMq;
  tmp: string;
  /** The worker and scheduler entry point, in the run's snapshot of the build. */
  childScript: string;
  interrupted: () => boolean;
  say: (line: string) => void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A small seeded generator: the same scenario draws the same load each time. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The tasks of one run: normal ones of minMs–maxMs, and the mix's shares of poison, long, deaf and isolated ones, shuffled. */
export function buildLoad(sizes: Sizes, mix: LoadMix, seed: number): TaskSpec[] {
  const random = mulberry32(seed);
  type Kind = 'exit' | 'throw' | 'hang' | 'long' | 'work' | IsolationKind;
  const kinds: Kind[] = [];
  for (const kind of ['exit', 'throw', 'hang', 'long'] as const) for (let i = 0; i < Math.round(sizes.tasks * mix[kind]); i++) kinds.push(kind);
  for (const [kind, share] of Object.entries(mix.isolated ?? {}) as [IsolationKind, number][]) for (let i = 0; i < Math.round(sizes.tasks * share); i++) kinds.push(kind);
  while (kinds.length < sizes.tasks) kinds.push('work');
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  return kinds.map((kind, index): TaskSpec => {
    const i = index + 1;
    switch (kind) {
      case 'work':
        return { func: CHAOS_FUNCS.work, args: { i, ms: sizes.minMs + Math.floor(random() * (sizes.maxMs - sizes.minMs + 1)) } };
      case 'long':
        return { func: CHAOS_FUNCS.work, args: { i, ms: Math.round(sizes.graceSeconds * 1000 * (1.5 + random())) } };
      case 'exit':
      case 'throw':
      case 'hang':
        return { func: CHAOS_FUNCS[kind], args: { i } };
      case 'deafInline':
      case 'deafThread':
      case 'deafProcess':
        // 1.2–2.5 × the timeout: past it always; an isolated one past its hard timeout (1.5 ×) is ended by force.
        return { func: CHAOS_ISOLATION_FUNCS[kind], args: { i, ms: Math.round(sizes.hangTimeoutMs * (1.2 + 1.3 * random())) } };
      default:
        return { func: CHAOS_ISOLATION_FUNCS[kind], args: { i } };
    }
  });
}

/** Inserts the load in waves every 500 ms over seedSeconds and hands each wave to the broker. */
async function seed(db: ChaosDb, broker: Broker, specs: TaskSpec[], sizes: Sizes, startedAt: number, say: (l: string) => void): Promise<void> {
  const waves = Math.max(1, Math.round((sizes.seedSeconds * 1000) / SEED_WAVE_MS));
  const per = Math.ceil(specs.length / waves);
  for (let w = 0; w * per < specs.length; w++) {
    const slice = specs.slice(w * per, (w + 1) * per);
    await sleep(Math.max(0, startedAt + w * SEED_WAVE_MS - wallMs()));
    // The database may be down (scenario 3): try again for up to two minutes.
    for (let tries = 1; ; tries++) {
      try {
        const refs = await db.seed(slice);
        const published = await broker.publish(refs, PublishPriority.Enqueue);
        if (published < refs.length) say(`  wave ${w + 1}: ${published} of ${refs.length} published; the dispatcher queues the rest`);
        break;
      } catch (err) {
        if (tries >= 240) throw new Error(`seeding wave ${w + 1} failed: ${(err as Error).message}`, { cause: err });
        await sleep(500);
      }
    }
  }
}

function childEnv(suite: Suite, scenario: Scenario, db: ChaosDb, execDir: string, prefix: string, role: Role, label: string): Record<string, string> {
  const s = suite.options.sizes;
  return {
    // Isolation scenarios: the isolates boot the compiled isolation funcs from the run's snapshot of the build.
    ...(scenario.isolation ? { CHAOS_ISOLATION: '1', LATERZ_HANDLERS: join(dirname(suite.childScript), 'chaos-isolation-handlers.js') } : {}),
    ROLES: role,
    // The settings below only: none from a .env in the working directory (on PostgreSQL, its AMQP_URL would apply).
    ENV_FILE: NO_ENV_FILE,
    // Schedulers name their connections apart, so scenario 4 can tell a worker's connections.
    DATABASE_URL: role === 'worker' ? db.url : `${db.url}?application_name=chaos-${label}`,
    DB_SCHEMA: db.schema,
    PORT: '0',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    PIPELINE_ENABLED: 'false',
    DB_POOL_SIZE: role === 'worker' ? '4' : '6',
    SHUTDOWN_GRACE_SECONDS: String(s.graceSeconds),
    WORKER_CONCURRENCY: String(s.concurrency),
    WORKER_BATCH_SIZE: String(s.batchSize),
    WORKER_POLL_MS: '250',
    DISPATCH_INTERVAL_SECONDS: '1',
    DISPATCH_MIN_AGE_SECONDS: '1',
    DISPATCH_QUEUED_GRACE_SECONDS: '5',
    DEAD_TASK_AFTER_SECONDS: String(s.deadAfterSeconds),
    RETRY_TIERS,
    TASK_ATTEMPTS_KEPT: '20',
    CHAOS_RECORD_DIR: execDir,
    CHAOS_HANG_TIMEOUT_MS: String(s.hangTimeoutMs),
    ...(suite.options.amqpUrl
      ? { AMQP_URL: suite.options.amqpUrl, AMQP_PREFIX: prefix, AMQP_HEARTBEAT_SECONDS: '5', AMQP_PUBLISH_TIMEOUT_MS: '2000' }
      : {}),
  };
}

async function deleteQueues(url: string, prefix: string): Promise<void> {
  const connection = await amqplib.connect(url);
  try {
    const channel = await connection.createChannel();
    for (const func of ALL_FUNCS) await channel.deleteQueue(brokerQueueName(prefix, { func, queue: 'default' }));
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** One scenario on the suite's transport: a database, processes, load, faults, then the checker. */
async function runScenario(suite: Suite, scenario: Scenario, baseline?: Figures): Promise<ScenarioResult> {
  const { options, say } = suite;
  const sizes = options.sizes;
  const transport = options.transport;
  const began = wallMs();
  const runDir = join(suite.tmp, `s${scenario.n}-${transport}`);
  const execDir = join(runDir, 'exec');
  const logDir = join(runDir, 'logs');
  mkdirSync(execDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const prefix = scratchAmqpPrefix(options.settings.amqpPrefix, 'chaos', `${scenario.n}-${scratchId(3)}`);
  const result: ScenarioResult = {
    scenario: scenario.n,
    name: scenario.name,
    title: scenario.title,
    transport,
    mode: sizes.mode,
    passed: false,
    checks: [],
    examples: [],
    faultsByKind: {},
    params: { ...sizes, tasks: scenario.tasks?.(sizes) ?? sizes.tasks, schedulers: scenario.schedulers, retryTiers: RETRY_TIERS, mix: scenario.mix(sizes) },
    when: new Date().toISOString(),
    durationSeconds: 0,
  };
  say(`\n== ${scenario.n} ${scenario.name} (${transport}, ${sizes.mode}): ${scenario.title}`);
  if (scenario.n === BROKER_RESTART_SCENARIO) say(brokerRestartWarning(options));

  const db = await ChaosDb.create(suite.serverUrl, `chaos_${scenario.n}_${transport}`, options.settings.dbSchema);
  const cluster = new Cluster({ script: suite.childScript, logDir, env: (role, label) => childEnv(suite, scenario, db, execDir, prefix, role, label), say });
  const queueSpecs = ALL_FUNCS.map((func) => ({ func, queue: 'default' }));
  // The seeder only publishes: its LISTEN client never subscribes, so it never connects.
  const listen = new ListenClient({ url: db.url });
  const broker: Broker = options.amqpUrl
    ? new AmqpBroker({ url: options.amqpUrl, prefix, queueType: 'classic', heartbeatSeconds: 5, publishTimeoutMs: 2000, deliveryLimit: 20 })
    : new PostgresBroker(new Db(db.pool), { listen, schema: db.schema, pollMs: 250 });
  broker.registerQueues(queueSpecs);
  const faults: Fault[] = [];
  const seededCount = scenario.tasks?.(sizes) ?? sizes.tasks;
  let afterChecks: CheckResult[] = [];
  let seedStartedAt = 0;
  let seedEndedAt = 0;
  let stopMonitor = false;
  let monitor = Promise.resolve();
  try {
    await Promise.all([cluster.start('scheduler', scenario.schedulers), cluster.start('worker', sizes.workers)]);
    // A scenario with a load of its own size is seeded at the same rate as the others.
    const runSizes = { ...sizes, tasks: seededCount, seedSeconds: (sizes.seedSeconds * seededCount) / sizes.tasks };
    const load = buildLoad(runSizes, scenario.mix(sizes), scenario.n + 1);
    seedStartedAt = wallMs();
    const faultDeadline = seedStartedAt + sizes.faultSeconds * 1000;
    let seeded = false;
    let open = Infinity;
    const over = () => suite.interrupted() || cluster.failure !== undefined || wallMs() > faultDeadline || (seeded && open === 0);
    monitor = (async () => {
      let lastSay = 0;
      while (!stopMonitor) {
        try {
          open = await db.open(ALLOWED_ATTEMPTS);
          if (options.verbose && wallMs() - lastSay > 5000) {
            lastSay = wallMs();
            say(`  ${Math.round((wallMs() - seedStartedAt) / 1000)} s: ${JSON.stringify(await db.statusCounts())}, ${faults.length} faults`);
          }
        } catch {
          // The server may be down (scenario 3): the next round asks again.
        }
        await sleep(MONITOR_MS);
      }
    })();
    const ctx: FaultContext = {
      sizes,
      transport,
      cluster,
      db,
      pg: suite.pg,
      rabbit: suite.rabbit,
      fault: (kind, detail) => {
        faults.push({ at: wallMs(), kind, detail });
        if (options.verbose) say(`  ${Math.round((wallMs() - seedStartedAt) / 1000)} s: ${kind}${detail ? ` ${detail}` : ''}`);
      },
      over,
      pause: async (ms) => {
        const until = wallMs() + ms;
        while (!over() && wallMs() < until) await sleep(Math.min(100, until - wallMs()));
      },
      elapsed: () => wallMs() - seedStartedAt,
      say,
      state: new Map(),
    };
    const seeding = seed(db, broker, load, runSizes, seedStartedAt, say).finally(() => {
      seeded = true;
      seedEndedAt = wallMs();
    });
    const injected = scenario.inject(ctx);
    const [seedOutcome, injectOutcome] = await Promise.allSettled([seeding, injected]);
    if (seedOutcome.status === 'rejected') throw seedOutcome.reason;
    if (injectOutcome.status === 'rejected') throw new Error(`fault injection failed: ${(injectOutcome.reason as Error).message}`, { cause: injectOutcome.reason });

    // Faults are over: everything must become final within the settle limit of the last one.
    const lastFaultAt = faults.reduce((m, f) => Math.max(m, f.at), seedEndedAt);
    while (!suite.interrupted() && cluster.failure === undefined && wallMs() < lastFaultAt + SETTLE_LIMIT_MS) {
      const now = await db.open(ALLOWED_ATTEMPTS).catch(() => Infinity);
      if (now === 0) break;
      await sleep(MONITOR_MS);
    }
    if (cluster.failure) throw new Error(cluster.failure);
    afterChecks = (await scenario.after?.(ctx)) ?? [];
  } catch (err) {
    result.error = (err as Error).message;
    say(`  run failed: ${result.error}`);
  } finally {
    stopMonitor = true;
    await monitor;
    await cluster.stopAll((sizes.graceSeconds + 15) * 1000);
    await broker.close().catch(() => undefined);
    await listen.close();
  }

  try {
    const { executions, tornLines } = readExecutions(execDir);
    // Each run of a poison task is a fault of its own (scenario 6 settles from the last one).
    for (const e of executions) if (e.func !== CHAOS_FUNCS.work) faults.push({ at: e.startedAt, kind: e.func.replace('chaos.', '') });
    const [tasks, transitions] = await Promise.all([db.tasks(), db.transitions()]);
    const checked = check({ tasks, transitions, executions, children: cluster.records, faults, seedStartedAt, seedEndedAt, allowedAttempts: ALLOWED_ATTEMPTS });
    await db.saveExecutions(executions, checked.endOf, (e) => checked.committedKeys.has(`${e.taskId}#${e.attempt}`));
    result.figures = checked.figures;
    result.examples = checked.examples;
    result.faultsByKind = countFaults(faults);
    result.checks = [
      ...baseChecks(checked.figures),
      { name: 'all seeded', ok: tasks.length === seededCount, detail: `${tasks.length} of ${seededCount} tasks in the table` },
      ...(scenario.checks?.({ sizes, figures: checked.figures, tasks, executions, children: cluster.records, baseline }) ?? []),
      ...afterChecks,
    ];
    if (tornLines > 0) result.checks.push({ name: 'execution log', ok: true, detail: `${tornLines} torn lines of killed processes skipped` });
  } catch (err) {
    result.error ??= `checker failed: ${(err as Error).message}`;
  } finally {
    result.passed = result.error === undefined && result.checks.every((c) => c.ok || c.soft);
    // A failed run's database stays for inspection (the suite then keeps the server's data too).
    await db.close(result.passed && !options.keep).catch((err: Error) => say(`  dropping ${db.name}: ${err.message}`));
    if (options.amqpUrl) await deleteQueues(options.amqpUrl, prefix).catch((err: Error) => say(`  deleting queues ${prefix}.*: ${err.message}`));
  }
  result.durationSeconds = Math.round((wallMs() - began) / 1000);
  const f = result.figures;
  if (f) {
    say(
      `  ${result.passed ? 'pass' : 'FAIL'} in ${result.durationSeconds} s: ${f.tasks} tasks, ${f.executions} executions, ${f.faults} faults ` +
        `${JSON.stringify(result.faultsByKind)}, lost ${f.lost}, overlapping ${f.overlapping}, stale ${f.stale}, killed ${f.killed}, ` +
        `final after ${f.totalSeconds ?? 'never'} s (settle ${f.settleSeconds ?? 'never'} s), ${f.throughput} tasks/s`,
    );
    say(formatChecks(result));
  }
  return result;
}

/** A run that could not even be set up (its database could not be made, …). */
function failedRun(scenario: Scenario, options: ChaosOptions, err: Error): ScenarioResult {
  console.log(`  run failed: ${err.message}`);
  return {
    scenario: scenario.n,
    name: scenario.name,
    title: scenario.title,
    transport: options.transport,
    mode: options.sizes.mode,
    passed: false,
    error: err.message,
    checks: [],
    examples: [],
    faultsByKind: {},
    params: {},
    when: new Date().toISOString(),
    durationSeconds: 0,
  };
}

/** Said before anything starts and again when scenario 2 begins: it restarts a broker others may use. */
function brokerRestartWarning(options: ChaosOptions): string {
  const host = options.amqpUrl ? new URL(options.amqpUrl).host : 'AMQP_URL';
  return (
    `!! scenario 2 STOPS AND KILLS THE RABBITMQ AT ${host} (allowed by --allow-broker-restart): rabbitmqctl stop_app / start_app, ` +
    `then SIGKILL of its Erlang VM and rabbitmq-server -detached. Every other client of that broker loses its connections ` +
    `meanwhile; the suite always starts it again at the end.`
  );
}

async function serverVersion(url: string): Promise<string> {
  const c = new Client({ connectionString: url, application_name: 'chaos-harness' });
  await c.connect();
  try {
    return (await c.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version;
  } finally {
    await c.end();
  }
}

function environment(options: ChaosOptions, pgVersion: string): Record<string, unknown> {
  let git: string | undefined;
  try {
    git = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    git = undefined;
  }
  return { node: process.version, cpus: cpus().length, postgres: pgVersion, git, command: `test:chaos ${process.argv.slice(2).join(' ')}`.trim(), mode: options.sizes.mode };
}

async function main(): Promise<number> {
  let options: ChaosOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const say = (line: string) => console.log(line);
  const unsound = checkerSelfTest();
  if (unsound.length > 0) {
    console.error(`the checker failed its self-test:\n  ${unsound.join('\n  ')}`);
    return 1;
  }
  let interrupts = 0;
  process.on('SIGINT', () => {
    if (++interrupts > 1) process.exit(130);
    say('\ninterrupted: stopping the current run (Ctrl-C again to leave at once)');
  });

  // A PostgreSQL server of the suite's own (scenario 3 restarts it, scenario 4 cuts its connections):
  // the machine's server, which other people's tests use, is never touched.
  const tmp = mkdtempSync(join(tmpdir(), 'laterz-chaos-'));
  chmodSync(tmp, 0o755);
  const pgLog = createWriteStream(join(tmp, 'postgres.log'));
  const pgPort = options.settings.embeddedPgPort ?? (await freePort());
  const pg = new EmbeddedPostgresServer({ dataDir: tmp, port: pgPort, onLog: (l) => pgLog.write(`${l}\n`) });
  const serverUrl = await pg.start().catch((err: Error) => {
    const why = options.settings.embeddedPgPort ? ` on EMBEDDED_PG_PORT=${pgPort} (unset it for a free port)` : ` on port ${pgPort}`;
    throw new Error(`the suite's own PostgreSQL did not start${why}: ${err.message}`, { cause: err });
  });
  const suite: Suite = {
    options,
    pg,
    serverUrl,
    rabbit: options.amqpUrl ? RabbitMq.fromUrl(options.amqpUrl) : undefined,
    tmp,
    childScript: snapshotBuild(tmp),
    interrupted: () => interrupts > 0,
    say,
  };
  say(`laterz chaos suite (${options.sizes.mode}, ${options.transport}): scenarios ${options.scenarios.join(', ')}; private PostgreSQL at ${new URL(suite.serverUrl).host}, files under ${tmp}`);
  say(
    `  databases chaos_<n>_${options.transport} (engine tables in schema ${options.settings.dbSchema}) on that server` +
      (options.amqpUrl ? `; queues ${options.settings.amqpPrefix}.chaos-<n>-<id>.* on ${new URL(options.amqpUrl).host}, deleted after each scenario` : ''),
  );
  if (options.databaseUrlUnused) say(`  DATABASE_URL is not used: scenario 3 restarts the server and scenario 4 cuts its connections, so the suite runs a PostgreSQL of its own`);
  if (options.transport === 'amqp' && options.scenarios.includes(BROKER_RESTART_SCENARIO)) say(brokerRestartWarning(options));
  const results: ScenarioResult[] = [];
  let pgVersion = '';
  try {
    pgVersion = await serverVersion(suite.serverUrl);
    // Fault-free runs of this invocation (0, 8), the references of the throughput checks (6, 9).
    const baselines = new Map<number, Figures>();
    for (const n of options.scenarios) {
      if (suite.interrupted()) break;
      const scenario = SCENARIOS[n];
      if (scenario.amqpOnly && options.transport !== 'amqp') {
        results.push({
          scenario: n,
          name: scenario.name,
          title: scenario.title,
          transport: options.transport,
          mode: options.sizes.mode,
          passed: true,
          skipped: 'needs RabbitMQ (--transport amqp)',
          checks: [],
          examples: [],
          faultsByKind: {},
          params: {},
          when: new Date().toISOString(),
          durationSeconds: 0,
        });
        continue;
      }
      const result = await runScenario(suite, scenario, baselines.get(scenario.reference ?? 0)).catch((err: Error) => failedRun(scenario, options, err));
      if (result.figures) baselines.set(n, result.figures);
      results.push(result);
    }
  } finally {
    await suite.rabbit?.ensureRunning().catch((err: Error) => say(`RabbitMQ is not back: ${err.message}`));
    await pg.stop().catch((err: Error) => say(`stopping the private PostgreSQL: ${err.message}`));
    pgLog.end();
  }

  say(`\n${formatTable(results)}`);
  writeResults(options.outFile, results, environment(options, pgVersion));
  say(`\nwritten to ${options.outFile}`);
  const passed = results.length > 0 && results.every((r) => r.passed) && !suite.interrupted();
  if (passed && !options.keep) rmSync(tmp, { recursive: true, force: true });
  else say(`process logs, execution logs and server data kept under ${tmp}`);
  return passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('chaos suite failed:', err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
