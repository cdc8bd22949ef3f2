import { parseArgs } from 'node:util';
import { ScratchSettings, scratchSettings } from '../../src/config/scratch-names.js';

export type Transport = 'postgres' | 'amqp';

/** Sizes and timings of one mode (full or --quick). */
export interface Sizes {
  mode: 'full' | 'quick';
  /** Tasks seeded per scenario run. */
  tasks: number;
  /** Run time of a normal task, drawn uniformly from [minMs, maxMs]. */
  minMs: number;
  maxMs: number;
  /** Worker processes. */
  workers: number;
  /** WORKER_CONCURRENCY and WORKER_BATCH_SIZE of each worker process. */
  concurrency: number;
  batchSize: number;
  /** The tasks are seeded in waves spread over this many seconds, so that faults hit a steady flow. */
  seedSeconds: number;
  /** Faults stop after this many seconds from the first seed (or earlier once everything is final). */
  faultSeconds: number;
  /** Scenario 1: one worker SIGKILLed this often. */
  killEveryMs: number;
  /** Scenario 4: one worker connection terminated this often. */
  terminateEveryMs: number;
  /** Scenario 3: how long the PostgreSQL server stays down. */
  pgDownMs: number;
  /** Scenario 2: how long RabbitMQ stays down after the graceful stop. */
  amqpDownMs: number;
  /** SHUTDOWN_GRACE_SECONDS of the workers (scenario 7 hands back what runs longer). */
  graceSeconds: number;
  /** DEAD_TASK_AFTER_SECONDS. */
  deadAfterSeconds: number;
  /** Timeout of the func whose tasks hang (scenario 6). */
  hangTimeoutMs: number;
  /**
   * Tasks of scenario 6: sized when each exiting poison task took a worker process down once per
   * attempt (a restart costs seconds); the handler guard ends that, and the size stays so that
   * figures remain comparable.
   */
  poisonTasks: number;
  /** Share of the load that is each kind of poison (scenario 6). */
  poisonShare: number;
  /** Share of the load that runs longer than the grace period (scenario 7), to be handed back. */
  longShare: number;
  /** Tasks of scenarios 8 and 9 (isolation): each isolated poison task ends an isolate once per attempt, and a child isolate's start costs about a second of CPU here. */
  isolationTasks: number;
  /** Scenario 9: share of the load deaf to its signal past its timeout, each of inline, thread and process (inline twice this). */
  deafShare: number;
  /** Scenario 9: share of the load that is each kind of isolated poison (segfault, out of memory in a thread and in a child, exit in a thread and in a child). */
  isolatedPoisonShare: number;
}

/** Everything must be final this long after the last fault (issue 8). */
export const SETTLE_LIMIT_MS = 5 * 60_000;
/** RETRY_TIERS of the chaos runs: a failed or killed task is retried at once, five tries in all. */
export const RETRY_TIERS = '0:5';
export const ALLOWED_ATTEMPTS = 5;
/** Scenario 6: the others' throughput must stay at least this share of the fault-free run's. */
export const MIN_THROUGHPUT_RATIO = 0.8;

export const FULL: Sizes = {
  mode: 'full',
  tasks: 20_000,
  minMs: 10,
  maxMs: 200,
  workers: 4,
  concurrency: 32,
  batchSize: 32,
  seedSeconds: 40,
  faultSeconds: 60,
  killEveryMs: 2000,
  terminateEveryMs: 5000,
  pgDownMs: 5000,
  amqpDownMs: 5000,
  graceSeconds: 5,
  deadAfterSeconds: 3,
  hangTimeoutMs: 2000,
  poisonTasks: 5000,
  poisonShare: 0.01,
  longShare: 0.01,
  isolationTasks: 5000,
  deafShare: 0.005,
  isolatedPoisonShare: 0.002,
};

export const QUICK: Sizes = {
  mode: 'quick',
  tasks: 1500,
  minMs: 5,
  maxMs: 50,
  workers: 3,
  concurrency: 16,
  batchSize: 16,
  seedSeconds: 10,
  faultSeconds: 16,
  killEveryMs: 2000,
  terminateEveryMs: 2500,
  pgDownMs: 3000,
  amqpDownMs: 3000,
  graceSeconds: 2,
  deadAfterSeconds: 3,
  hangTimeoutMs: 1000,
  poisonTasks: 1000,
  poisonShare: 0.01,
  longShare: 0.02,
  isolationTasks: 1000,
  deafShare: 0.005,
  isolatedPoisonShare: 0.002,
};

export interface ChaosOptions {
  sizes: Sizes;
  transport: Transport;
  /** Scenario numbers to run, in order (0 is the fault-free reference run). */
  scenarios: number[];
  amqpUrl?: string;
  /** Scenario 2 may stop and kill the RabbitMQ at amqpUrl (--allow-broker-restart). */
  allowBrokerRestart: boolean;
  /** The user's AMQP_PREFIX (queues under `<prefix>.chaos-…`), DB_SCHEMA and EMBEDDED_PG_PORT (the private server's port). */
  settings: ScratchSettings;
  /** DATABASE_URL, which the suite does not use (it runs a PostgreSQL of its own): said at the start. */
  databaseUrlUnused?: string;
  /** Keep the temporary folder (server data, process logs, execution logs) and the databases. */
  keep: boolean;
  verbose: boolean;
  outFile: string;
}

export const SCENARIO_NUMBERS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] as const;
/**
 * What `--quick` runs by default: not the isolation scenarios 8 and 9, which took 3 min (9 alone:
 * every isolated poison attempt ends an isolate, and each child isolate's start costs seconds of
 * CPU on this shared 2-core machine), over the ~60 s a CI addition may take. `--scenario 9` runs them.
 */
export const QUICK_SCENARIOS = [0, 1, 2, 3, 4, 5, 6, 7] as const;
/** Scenarios whose throughput check needs a reference run first (added by --scenario): 6 → 0, 9 → 8. */
export const REFERENCE_OF: Readonly<Record<number, number>> = { 6: 0, 9: 8 };
/** The scenario that stops and kills the machine's RabbitMQ. */
export const BROKER_RESTART_SCENARIO = 2;

export const USAGE = `usage: npm run test:chaos [-- options]
  --quick                    scaled-down sizes (CI); default: the full suite (20,000 tasks per scenario)
  --transport postgres|amqp  the queue (default postgres); amqp needs AMQP_URL and runs scenario 2
  --allow-broker-restart     let scenario 2 stop and SIGKILL the RabbitMQ at AMQP_URL (every other
                             client of that broker loses its connections); without it, a run that
                             includes scenario 2 on amqp refuses to start
  --scenario N               run only scenario N (repeat or comma-separate); 0 is the fault-free
                             reference run, added automatically for scenario 6 (8 for 9)
  --keep                     keep the temporary folder (logs, server data) and the databases
  --verbose                  progress lines while a scenario runs
  --out FILE                 where the JSON goes (default bench-results/chaos.json)
scenarios: 1 worker SIGKILL, 2 RabbitMQ restarts, 3 PostgreSQL restart, 4 pg_terminate_backend,
           5 three scheduler replicas, 6 poison tasks, 7 rolling SIGTERM, 8 isolation fault-free
           (reference for 9), 9 deaf handlers past their timeout and isolated poison (issue 17)
environment: AMQP_URL (127.0.0.1 only), AMQP_PREFIX (queues <prefix>.chaos-<n>-<id>.*), DB_SCHEMA,
           EMBEDDED_PG_PORT (the suite's own PostgreSQL; default a free port); DATABASE_URL is not used`;

/** Parses the command line; throws an Error whose message is meant for the user. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): ChaosOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      transport: { type: 'string', default: 'postgres' },
      scenario: { type: 'string', multiple: true },
      'allow-broker-restart': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results/chaos.json' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const transport = values.transport;
  if (transport !== 'postgres' && transport !== 'amqp') throw new Error(`--transport must be postgres or amqp, got ${JSON.stringify(transport)}`);
  if (transport === 'amqp' && !env.AMQP_URL) throw new Error('--transport amqp needs AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672)');
  if (transport === 'amqp' && !isLocal(env.AMQP_URL!)) throw new Error('AMQP_URL must point at 127.0.0.1 or localhost: scenario 2 restarts that broker');
  let scenarios: number[] = values.quick ? [...QUICK_SCENARIOS] : [...SCENARIO_NUMBERS];
  if (values.scenario && values.scenario.length > 0) {
    scenarios = values.scenario
      .flatMap((s) => s.split(','))
      .map((s) => {
        const n = Number(s.trim());
        if (!SCENARIO_NUMBERS.includes(n as (typeof SCENARIO_NUMBERS)[number])) throw new Error(`--scenario must be 0-${SCENARIO_NUMBERS.length - 1}, got ${JSON.stringify(s)}`);
        return n;
      });
    for (const [n, reference] of Object.entries(REFERENCE_OF)) if (scenarios.includes(Number(n)) && !scenarios.includes(reference)) scenarios.unshift(reference);
    scenarios = [...new Set(scenarios)].sort((a, b) => a - b);
  }
  const allowBrokerRestart = values['allow-broker-restart'];
  if (transport === 'amqp' && scenarios.includes(BROKER_RESTART_SCENARIO) && !allowBrokerRestart) {
    const host = new URL(env.AMQP_URL!).host;
    throw new Error(
      `scenario 2 (rabbitmq-restart) stops and kills the RabbitMQ at ${host}: rabbitmqctl stop_app, then SIGKILL of its ` +
        `Erlang VM and rabbitmq-server -detached; every other client of that broker loses its connections. ` +
        `Pass --allow-broker-restart to run it, or leave it out (--scenario ${SCENARIO_NUMBERS.filter((n) => n !== BROKER_RESTART_SCENARIO).join(',')}).`,
    );
  }
  let settings: ScratchSettings;
  try {
    settings = scratchSettings(env);
  } catch (err) {
    throw new Error(`the suite follows your settings, and one is invalid: ${(err as Error).message}`, { cause: err });
  }
  return {
    sizes: values.quick ? QUICK : FULL,
    transport,
    scenarios,
    amqpUrl: transport === 'amqp' ? env.AMQP_URL : undefined,
    allowBrokerRestart,
    settings,
    databaseUrlUnused: env.DATABASE_URL || undefined,
    keep: values.keep,
    verbose: values.verbose,
    outFile: values.out,
  };
}

function isLocal(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === '127.0.0.1' || host === 'localhost';
  } catch {
    return false;
  }
}
