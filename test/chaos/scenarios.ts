import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmbeddedPostgresServer } from '../../src/database/embedded-postgres.js';
import type { ChaosDb, TaskRow } from './chaos-db.js';
import { CHAOS_FUNCS } from './chaos-handlers.js';
import { CHAOS_ISOLATION_FUNCS, DEAF_ATTEMPTS } from './chaos-isolation-handlers.js';
import type { Figures } from './checker.js';
import type { ChildRecord, Cluster } from './cluster.js';
import type { Execution } from './execution-log.js';
import { ALLOWED_ATTEMPTS, MIN_THROUGHPUT_RATIO, SETTLE_LIMIT_MS, Sizes, Transport } from './options.js';
import type { RabbitMq } from './rabbitmq.js';

/** What a fault injector may use while the load runs. */
export interface FaultContext {
  sizes: Sizes;
  transport: Transport;
  cluster: Cluster;
  db: ChaosDb;
  pg: EmbeddedPostgresServer;
  rabbit?: RabbitMq;
  /** Records a fault (now). */
  fault(kind: string, detail?: string): void;
  /** True once faults must stop: the fault window is over, or everything seeded is final. */
  over(): boolean;
  /** Waits `ms`, or less if the run is over first. */
  pause(ms: number): Promise<void>;
  /** Milliseconds since the first seed. */
  elapsed(): number;
  say(line: string): void;
  /** What an injector leaves for its scenario's `after` (e.g. a snapshot taken before a fault). */
  state: Map<string, unknown>;
}

/** Shares of the load that are not normal tasks. */
export interface LoadMix {
  exit: number;
  throw: number;
  hang: number;
  /** Normal tasks that run longer than the shutdown grace period. */
  long: number;
  /** Isolation scenarios: shares of the load of each of their funcs (chaos-isolation-handlers.ts). */
  isolated?: Partial<Record<IsolationKind, number>>;
}

export type IsolationKind = keyof typeof CHAOS_ISOLATION_FUNCS;

/** What a scenario's own checks look at. */
export interface CheckContext {
  sizes: Sizes;
  figures: Figures;
  tasks: TaskRow[];
  executions: Execution[];
  children: ChildRecord[];
  /** The fault-free run's figures on the same transport, when it ran in this invocation. */
  baseline?: Figures;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /**
   * A failed check that is not hard is reported (✗ in the output, `ok: false` in the JSON) but does
   * not fail the run: a performance expectation rather than a broken guarantee.
   */
  soft?: boolean;
}

export interface Scenario {
  n: number;
  name: string;
  title: string;
  amqpOnly?: boolean;
  /** Its workers also serve the isolation funcs, and their isolates boot them (CHAOS_ISOLATION, LATERZ_HANDLERS). */
  isolation?: boolean;
  /** The fault-free scenario its throughput is compared with (default 0). */
  reference?: number;
  schedulers: number;
  /** Tasks seeded (default: sizes.tasks). */
  tasks?(sizes: Sizes): number;
  mix(sizes: Sizes): LoadMix;
  inject(ctx: FaultContext): Promise<void>;
  /** Runs once everything is final, while the processes still run. */
  after?(ctx: FaultContext): Promise<CheckResult[]>;
  checks?(ctx: CheckContext): CheckResult[];
}

const NO_POISON: LoadMix = { exit: 0, throw: 0, hang: 0, long: 0 };

/** The checks every run must pass (issue 8, plus the engine's own promises). */
export function baseChecks(f: Figures): CheckResult[] {
  return [
    zero('lost', f.lost, 'tasks not final at the end'),
    zero('overlapping', f.overlapping, 'pairs of executions of one task that overlap'),
    zero('stale', f.stale, 'finishes of a superseded attempt that landed'),
    zero('regressions', f.regressions, 'completed tasks sent back to pending, queued or killed'),
    zero('revived', f.revived, 'tasks that had used up their tries and ran again'),
    { name: 'stray starts', ok: f.strayStarts === 0, soft: true, detail: `${f.strayStarts} tasks started from a status other than queued` },
    zero('killed while running', f.killedWhileRunning, 'tasks declared dead while their handler still ran in a live process'),
    zero('crashes', f.crashes, 'processes that exited on their own'),
    zero('open executions', f.openExecutions, 'executions with no end and no exited process'),
    {
      name: 'settled',
      ok: f.settleSeconds !== null && f.settleSeconds * 1000 <= SETTLE_LIMIT_MS,
      detail: f.settleSeconds === null ? 'not everything became final' : `everything final ${f.settleSeconds} s after the last fault (limit ${SETTLE_LIMIT_MS / 1000} s)`,
    },
  ];
}

function zero(name: string, value: number, what: string): CheckResult {
  return { name, ok: value === 0, detail: `${value} ${what}` };
}

/** Worker connections as they name themselves (schedulers connect under another name: see run.ts). */
const WORKER_SESSION = 'laterz-worker-session';
const WORKER_CONNECTIONS = [WORKER_SESSION, 'laterz', 'laterz-listen'] as const;

function pick<T>(items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(Math.random() * items.length)];
}

export const SCENARIOS: Scenario[] = [
  {
    n: 0,
    name: 'fault-free',
    title: 'the same load without faults (the reference for scenario 6)',
    schedulers: 1,
    mix: () => NO_POISON,
    inject: async () => undefined,
  },
  {
    n: 1,
    name: 'worker-sigkill',
    title: 'one worker SIGKILLed every 2 s and restarted',
    schedulers: 1,
    mix: () => NO_POISON,
    async inject(ctx) {
      while (!ctx.over()) {
        await ctx.pause(ctx.sizes.killEveryMs);
        // A worker that runs tasks, when there is one: killing an idle one proves little.
        const ready = ctx.cluster.ready('worker');
        const busy = await ctx.db.busyPids().catch(() => new Set<number>());
        const label = pick(ready.filter((l) => busy.has(ctx.cluster.pid(l) ?? -1))) ?? pick(ready);
        if (ctx.over() || !label) continue;
        const pid = ctx.cluster.pid(label);
        ctx.fault('sigkill', `${label} pid ${pid}`);
        void ctx.cluster.signal(label, 'SIGKILL').catch((err: Error) => ctx.say(`sigkill ${label}: ${err.message}`));
      }
    },
  },
  {
    n: 2,
    name: 'rabbitmq-restart',
    title: 'RabbitMQ restarted twice while tasks are published (stop_app/start_app, then SIGKILL and start)',
    amqpOnly: true,
    schedulers: 1,
    mix: () => NO_POISON,
    async inject(ctx) {
      const rabbit = ctx.rabbit!;
      try {
        await ctx.pause(ctx.sizes.seedSeconds * 300);
        ctx.fault('rabbitmq-stop-app');
        await rabbit.stopApp();
        await ctx.pause(ctx.sizes.amqpDownMs);
        await rabbit.startApp();
        ctx.fault('rabbitmq-start-app');
        // The second restart once tasks flow again for a while (at least 3 s).
        await ctx.pause(Math.max(3000, ctx.sizes.seedSeconds * 650 - ctx.elapsed()));
        const pid = await rabbit.kill();
        ctx.fault('rabbitmq-sigkill', `beam pid ${pid}`);
        await ctx.pause(ctx.sizes.amqpDownMs);
        await rabbit.startServer();
        ctx.fault('rabbitmq-start-server');
      } finally {
        await rabbit.ensureRunning();
      }
    },
  },
  {
    n: 3,
    name: 'postgres-restart',
    title: 'PostgreSQL restarted once; every process keeps running',
    schedulers: 1,
    mix: () => NO_POISON,
    async inject(ctx) {
      await ctx.pause(ctx.sizes.seedSeconds * 400);
      // Stop it while tasks run, so that running tasks lose their sessions (bounded wait).
      for (let i = 0; i < 50 && (await ctx.db.running().catch(() => 0)) < 3; i++) await sleep(20);
      ctx.state.set('connections', await ctx.db.connections(WORKER_CONNECTIONS));
      ctx.fault('postgres-stop');
      try {
        await ctx.pg.stop();
        await sleep(ctx.sizes.pgDownMs);
      } finally {
        await ctx.pg.start();
        ctx.fault('postgres-start');
      }
    },
    async after(ctx) {
      // Every process reconnects on its own; none should hold more connections than before.
      const before = ctx.state.get('connections') as Record<string, number> | undefined;
      const now = await ctx.db.connections(WORKER_CONNECTIONS);
      const grew = Object.entries(now).filter(([name, n]) => n > (before?.[name] ?? 0));
      return [
        {
          name: 'no leaked connections',
          ok: before !== undefined && grew.length === 0,
          soft: true,
          detail: `worker connections before the restart ${JSON.stringify(before)}, after ${JSON.stringify(now)}`,
        },
      ];
    },
  },
  {
    n: 4,
    name: 'terminate-backend',
    title: 'pg_terminate_backend on a random worker connection every 5 s',
    schedulers: 1,
    mix: () => NO_POISON,
    async inject(ctx) {
      for (let i = 0; !ctx.over(); i++) {
        await ctx.pause(ctx.sizes.terminateEveryMs);
        if (ctx.over()) break;
        // Every other hit is a worker session (the one that holds the running tasks' locks).
        const backends = await ctx.db.workerBackends(i % 2 === 0 ? [WORKER_SESSION] : WORKER_CONNECTIONS);
        const victim = pick(backends);
        if (!victim) continue;
        if (await ctx.db.terminate(victim.pid)) ctx.fault('terminate', `${victim.name} backend ${victim.pid}`);
      }
    },
  },
  {
    n: 5,
    name: 'scheduler-replicas',
    title: 'three scheduler replicas, dispatcher every 1 s; some tasks run longer than DEAD_TASK_AFTER_SECONDS',
    schedulers: 3,
    // Tasks running past DEAD_TASK_AFTER_SECONDS: the dead-task scans of every replica must leave them alone.
    mix: (s) => ({ ...NO_POISON, long: s.longShare }),
    inject: async () => undefined,
    checks: ({ figures }) => [zero('no task killed', figures.killed, 'tasks marked task_killed although no process died')],
  },
  {
    n: 6,
    name: 'poison',
    title: 'poison tasks: 1% exit the process, 1% always throw, 1% hang past their timeout',
    schedulers: 1,
    tasks: (s) => s.poisonTasks,
    mix: (s) => ({ exit: s.poisonShare, throw: s.poisonShare, hang: s.poisonShare, long: 0 }),
    inject: async () => undefined,
    checks: (ctx) => poisonChecks(ctx),
  },
  {
    n: 7,
    name: 'rolling-sigterm',
    title: 'rolling SIGTERM of every worker, one at a time',
    schedulers: 1,
    mix: (s) => ({ ...NO_POISON, long: s.longShare }),
    async inject(ctx) {
      await ctx.pause(ctx.sizes.seedSeconds * 200);
      for (const label of ctx.cluster.labels('worker')) {
        await ctx.cluster.waitReady(label);
        ctx.fault('sigterm', `${label} pid ${ctx.cluster.pid(label)}`);
        const { exitMs } = await ctx.cluster.signal(label, 'SIGTERM');
        ctx.say(`  ${label} stopped in ${Math.round(exitMs)} ms`);
        await ctx.cluster.waitReady(label);
      }
    },
    checks: (ctx) => rollingChecks(ctx),
  },
  {
    n: 8,
    name: 'isolation-fault-free',
    title: 'the load of scenario 9 without its faults: workers with isolate pools, normal tasks only (the reference for 9)',
    schedulers: 1,
    isolation: true,
    tasks: (s) => s.isolationTasks,
    mix: () => NO_POISON,
    inject: async () => undefined,
  },
  {
    n: 9,
    name: 'deaf-and-crashing',
    title: 'handlers deaf to their signal outlive their timeout (inline, thread, process); isolated poison: SIGSEGV, out of memory, process.exit',
    schedulers: 1,
    isolation: true,
    reference: 8,
    tasks: (s) => s.isolationTasks,
    mix: (s) => ({
      ...NO_POISON,
      isolated: {
        deafInline: 2 * s.deafShare,
        deafThread: s.deafShare,
        deafProcess: s.deafShare,
        segv: s.isolatedPoisonShare,
        oomThread: s.isolatedPoisonShare,
        oomProcess: s.isolatedPoisonShare,
        exitThread: s.isolatedPoisonShare,
        exitProcess: s.isolatedPoisonShare,
      },
    }),
    inject: async () => undefined,
    checks: (ctx) => isolationChecks(ctx),
  },
];

const DEAF_FUNCS = new Set<string>([CHAOS_ISOLATION_FUNCS.deafInline, CHAOS_ISOLATION_FUNCS.deafThread, CHAOS_ISOLATION_FUNCS.deafProcess]);
const ISOLATED_POISON = new Map<string, readonly string[]>([
  [CHAOS_ISOLATION_FUNCS.segv, ['handler_crashed']],
  [CHAOS_ISOLATION_FUNCS.oomThread, ['out_of_memory']],
  [CHAOS_ISOLATION_FUNCS.oomProcess, ['out_of_memory']],
  [CHAOS_ISOLATION_FUNCS.exitThread, ['handler_exited']],
  [CHAOS_ISOLATION_FUNCS.exitProcess, ['handler_exited']],
]);

/**
 * Scenario 9: every deaf task succeeds once its deaf attempts are over (each of those failed, and
 * the next started only after it ended: the base checks count overlaps); every isolated poison
 * task ends after its allowed attempts with the reason its isolate's end gives; no worker goes
 * down; no normal task fails; the others keep MIN_THROUGHPUT_RATIO of scenario 8's pace.
 */
function isolationChecks({ figures, tasks, baseline }: CheckContext): CheckResult[] {
  const endings = (list: TaskRow[]) => {
    const counts = new Map<string, number>();
    for (const t of list) {
      const key = `${t.func.replace(/^chaos\./, '')} ${t.status}/${t.reason || '-'} ×${t.failCount}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => `${k}: ${n}`).join(', ');
  };
  const deaf = tasks.filter((t) => DEAF_FUNCS.has(t.func));
  const deafWrong = deaf.filter((t) => t.status !== 'success' || t.failCount !== DEAF_ATTEMPTS || t.resultAttempt !== DEAF_ATTEMPTS + 1);
  const poison = tasks.filter((t) => ISOLATED_POISON.has(t.func));
  const poisonWrong = poison.filter((t) => t.status === 'success' || t.failCount !== ALLOWED_ATTEMPTS || !ISOLATED_POISON.get(t.func)!.includes(t.reason));
  const results: CheckResult[] = [
    {
      // An expectation: a later attempt can time out too when its isolate must first start (the
      // pooled one was ended by force) and that start takes longer than the timeout.
      name: 'deaf tasks',
      ok: deaf.length > 0 && deafWrong.length === 0,
      soft: true,
      detail: `${deaf.length - deafWrong.length} of ${deaf.length} deaf tasks succeeded on attempt ${DEAF_ATTEMPTS + 1} after ${DEAF_ATTEMPTS} failed ones (${endings(deaf)})`,
    },
    {
      name: 'isolated poison',
      ok: poison.length > 0 && poisonWrong.length === 0,
      detail: `${poison.length - poisonWrong.length} of ${poison.length} final after ${ALLOWED_ATTEMPTS} failed attempts with their isolate's reason (${endings(poison)})`,
    },
    zero('workers brought down', figures.poisonExits + figures.crashes, 'worker processes that exited on their own'),
    { name: 'others unharmed', ok: figures.normalFailed === 0, detail: `${figures.normalFailed} normal tasks failed for good` },
  ];
  results.push(throughputCheck(figures, baseline, 'scenario 8'));
  return results;
}

function throughputCheck(figures: Figures, baseline: Figures | undefined, what: string): CheckResult {
  if (!baseline) return { name: 'throughput', ok: true, soft: true, detail: `no ${what} run on this transport in this invocation: not compared` };
  const ratio = figures.throughput / Math.max(1, baseline.throughput);
  return {
    name: 'throughput',
    ok: ratio >= MIN_THROUGHPUT_RATIO,
    detail: `normal tasks ${figures.throughput}/s, fault-free (${what}) ${baseline.throughput}/s: ${Math.round(ratio * 100)}% (expected at least ${MIN_THROUGHPUT_RATIO * 100}%)`,
  };
}

/**
 * Scenario 6: each poison task ends final after its allowed attempts, no worker goes down (the
 * handler guard turns a handler's process.exit into a failure of its task), no normal task fails,
 * and the others keep at least MIN_THROUGHPUT_RATIO of the fault-free run's pace.
 */
function poisonChecks({ figures, tasks, executions, baseline }: CheckContext): CheckResult[] {
  const runs = new Map<string, number>();
  for (const e of executions) runs.set(e.taskId, (runs.get(e.taskId) ?? 0) + 1);
  const poisonFuncs = new Set<string>([CHAOS_FUNCS.exit, CHAOS_FUNCS.throw, CHAOS_FUNCS.hang]);
  const poison = tasks.filter((t) => poisonFuncs.has(t.func));
  const wrong = poison.filter((t) => t.status === 'success' || t.failCount !== ALLOWED_ATTEMPTS);
  const tooMany = poison.filter((t) => (runs.get(t.id) ?? 0) > ALLOWED_ATTEMPTS);
  const endings = new Map<string, number>();
  for (const t of poison) {
    const ending = `${t.func.replace('chaos.poison.', '')} ${t.status}/${t.reason || '-'}`;
    endings.set(ending, (endings.get(ending) ?? 0) + 1);
  }
  const results: CheckResult[] = [
    {
      name: 'poison final',
      ok: poison.length > 0 && wrong.length === 0,
      detail:
        `${poison.length - wrong.length} of ${poison.length} poison tasks final after ${ALLOWED_ATTEMPTS} failed attempts ` +
        `(${[...endings].map(([k, n]) => `${k}: ${n}`).join(', ')})` +
        (wrong.length > 0 ? `; e.g. task ${wrong[0].id} (${wrong[0].func}) ${wrong[0].status}/${wrong[0].reason} after ${wrong[0].failCount} fails` : ''),
    },
    { name: 'poison attempts', ok: tooMany.length === 0, detail: `${tooMany.length} poison tasks ran more than ${ALLOWED_ATTEMPTS} times` },
    zero('workers brought down', figures.poisonExits, 'worker processes a poison task ended (process.exit reached the process)'),
    {
      name: 'others unharmed',
      ok: figures.normalFailed === 0,
      detail: `${figures.normalFailed} normal tasks used up their tries dying beside poison tasks (task_killed counts as a failed attempt)`,
    },
  ];
  if (!baseline) {
    results.push({ name: 'throughput', ok: true, soft: true, detail: 'no fault-free run on this transport in this invocation: not compared' });
  } else {
    const ratio = figures.throughput / Math.max(1, baseline.throughput);
    results.push({
      name: 'throughput',
      ok: ratio >= MIN_THROUGHPUT_RATIO,
      detail: `normal tasks ${figures.throughput}/s, fault-free ${baseline.throughput}/s: ${Math.round(ratio * 100)}% (expected at least ${MIN_THROUGHPUT_RATIO * 100}%)`,
    });
  }
  return results;
}

/** Scenario 7: nothing is killed, and each worker stops within its grace period. */
function rollingChecks({ figures, children, sizes }: CheckContext): CheckResult[] {
  const stopped = children.filter((c) => c.cause === 'sigterm');
  // The grace period covers the running tasks; closing pools and the HTTP server comes after it.
  const limitMs = sizes.graceSeconds * 1000 + 5000;
  const slow = stopped.filter((c) => c.exitedAt! - c.signalledAt! > limitMs);
  let finished = 0;
  let handedBack = 0;
  let reported = 0;
  for (const c of stopped) {
    const m = /worker stopped: (\d+) running tasks finished, (\d+) handed back/.exec(readLog(c.logFile));
    if (!m) continue;
    reported++;
    finished += Number(m[1]);
    handedBack += Number(m[2]);
  }
  const longest = Math.max(0, ...stopped.map((c) => c.exitedAt! - c.signalledAt!));
  return [
    zero('no task killed', figures.killed, 'tasks marked task_killed'),
    { name: 'every worker rolled', ok: stopped.length === sizes.workers, detail: `${stopped.length} of ${sizes.workers} workers stopped by SIGTERM` },
    {
      name: 'within grace',
      ok: slow.length === 0 && reported === stopped.length,
      detail: `longest stop ${Math.round(longest)} ms (grace ${sizes.graceSeconds} s + 5 s to close); ${finished} running tasks finished, ${handedBack} handed back (${reported} of ${stopped.length} workers reported)`,
    },
  ];
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
