import { parseArgs } from 'node:util';
import { ScratchSettings, scratchSettings } from '../../src/config/scratch-names.js';

/** Scenarios this harness runs, in the order `npm run bench` runs them. */
export const SCENARIO_NAMES = ['noop-drain', 'enqueue', 'latency', 'dag', 'memory', 'dispatcher-tick', 'stats', 'bulk', 'ingest', 'periodic', 'scheduled', 'isolation', 'isolation-memory'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
/** Named in DESIGN.md ("Benchmarks") but belonging to modules that do not exist yet. */
export type Transport = 'postgres' | 'amqp';
/** Where the handlers run (WORKER_ISOLATION). */
export const ISOLATION_MODES = ['inline', 'thread', 'process'] as const;
export type IsolationMode = (typeof ISOLATION_MODES)[number];

export interface WorkerTuning {
  /** WORKER_CONCURRENCY of each laterz worker process. */
  concurrency: number;
  /** WORKER_BATCH_SIZE of each laterz worker process. */
  batchSize: number;
}

export interface BenchOptions {
  scenarios: ScenarioName[];
  transport: Transport;
  /** Also run pg-boss and graphile-worker where a scenario has a comparable form. */
  peers: boolean;
  /** Measured runs per system; figures are their median. */
  runs: number;
  /** `--runs` was given: scenarios with a single-run default (memory) follow it too. */
  runsGiven: boolean;
  /** Smaller sizes and shorter durations. */
  quick: boolean;
  /** noop-drain also on a table holding 1,000,000 finished tasks. */
  history: boolean;
  /** ANALYZE the job table with the seeded jobs, as if autovacuum had run (default: fresh, unanalyzed tables). */
  analyze: boolean;
  /** dispatcher-tick, stats and bulk on a table of 10,000,000 tasks instead of 1,000,000. */
  large: boolean;
  /** PostgreSQL server: every run creates (and drops) a database of its own on it. */
  serverUrl: string;
  amqpUrl: string;
  /** The user's AMQP_PREFIX (queues `<prefix>.bench-<id>…`) and DB_SCHEMA (the engine's schema in each run's database). */
  settings: ScratchSettings;
  worker: WorkerTuning;
  /** isolation, isolation-memory: the execution modes to compare, in order (default all three). */
  isolationModes: IsolationMode[];
  /** WORKER_CONCURRENCY (the isolate pool's size) of a worker in thread or process mode. */
  isolates: number;
  /** isolation-memory: tasks per mode (compared with a fifth of it); default 1,000,000 (100,000 with --quick). */
  soakTasks?: number;
  verbose: boolean;
  outDir: string;
}

export const USAGE = `usage: npm run bench [-- <scenario> ...] [options]
scenarios: ${SCENARIO_NAMES.join(', ')} (all by default)
options:
  --transport postgres|amqp  laterz's queue (amqp uses AMQP_URL, default amqp://guest:guest@127.0.0.1:5672)
  --peers                    also run pg-boss and graphile-worker (noop-drain, enqueue, latency);
                             with --transport amqp, raw amqplib on the same broker and the
                             pg+amqplib floor (noop-drain, latency)
  --runs N                   measured runs per system, median reported (default 3; memory: 1)
  --quick                    smaller sizes, shorter durations
  --history                  noop-drain also on a table already holding 1,000,000 finished tasks
  --analyze                  ANALYZE the job table with the seeded jobs before they become visible
                             (as if autovacuum had run; default: the fresh table's planner statistics)
  --large                    dispatcher-tick, stats and bulk on 10,000,000 tasks (default 1,000,000)
  --concurrency N            laterz WORKER_CONCURRENCY per worker process (default 500)
  --batch-size N             laterz WORKER_BATCH_SIZE per worker process (default 200)
  --modes LIST               isolation, isolation-memory: execution modes, comma-separated
                             (inline,thread,process; default all three)
  --isolates N               ISOLATE_POOL_SIZE of a worker in thread or process mode, its
                             isolate pool's size (default 8)
  --soak-tasks N             isolation-memory: tasks per mode, compared with after N/5
                             (default 1,000,000; 100,000 with --quick)
  --verbose                  show worker output and progress
environment: DATABASE_URL (server, default postgres://postgres@127.0.0.1:5432/postgres: each run creates
  and drops a database laterz_bench_<scenario>_<system>_<id> on it), AMQP_URL, AMQP_PREFIX (queues
  <prefix>.bench-<id>.*, deleted after each run), DB_SCHEMA (the engine's tables in each database)`;

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1, got ${JSON.stringify(value)}`);
  return n;
}

/** Parses the command line; throws an Error whose message is meant for the user. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      transport: { type: 'string', default: 'postgres' },
      peers: { type: 'boolean', default: false },
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      history: { type: 'boolean', default: false },
      analyze: { type: 'boolean', default: false },
      large: { type: 'boolean', default: false },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      modes: { type: 'string' },
      isolates: { type: 'string' },
      'soak-tasks': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (values.transport !== 'postgres' && values.transport !== 'amqp') {
    throw new Error(`--transport must be postgres or amqp, got ${JSON.stringify(values.transport)}`);
  }
  for (const name of positionals) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${SCENARIO_NAMES.join(', ')}`);
  }
  const wanted = new Set(positionals);
  let settings: ScratchSettings;
  try {
    settings = scratchSettings(env);
  } catch (err) {
    throw new Error(`the bench follows your settings, and one is invalid: ${(err as Error).message}`, { cause: err });
  }
  return {
    scenarios: wanted.size === 0 ? [...SCENARIO_NAMES] : SCENARIO_NAMES.filter((s) => wanted.has(s)),
    transport: values.transport,
    peers: values.peers,
    runs: positiveInt(values.runs, '--runs', 3),
    runsGiven: values.runs !== undefined,
    quick: values.quick,
    history: values.history,
    analyze: values.analyze,
    large: values.large,
    serverUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    amqpUrl: env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
    settings,
    worker: {
      concurrency: positiveInt(values.concurrency, '--concurrency', 500),
      batchSize: positiveInt(values['batch-size'], '--batch-size', 200),
    },
    isolationModes: parseModes(values.modes),
    isolates: positiveInt(values.isolates, '--isolates', 8),
    soakTasks: values['soak-tasks'] === undefined ? undefined : positiveInt(values['soak-tasks'], '--soak-tasks', 1),
    verbose: values.verbose,
    outDir: 'bench-results',
  };
}

function parseModes(value: string | undefined): IsolationMode[] {
  if (value === undefined) return [...ISOLATION_MODES];
  const modes = value.split(',').map((m) => m.trim());
  for (const m of modes) {
    if (!(ISOLATION_MODES as readonly string[]).includes(m)) throw new Error(`--modes takes ${ISOLATION_MODES.join(', ')} (comma-separated), got ${JSON.stringify(m)}`);
  }
  return [...new Set(modes)] as IsolationMode[];
}
