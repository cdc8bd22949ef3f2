import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { RegisteredFunc, TaskRegistry } from '../../tasks/task-registry.js';
import type { ClaimedTask } from '../claim/claim-decisions.js';
import type { RunAbort } from '../run/run-abort.js';
import { TaskTimeout } from '../run/task-outcome.js';
import { Isolate, IsolatedRunIo, IsolationMode } from './isolate.js';
import { encodeDeps, IsolateBoot } from './isolate-protocol.js';


/** How long a retiring isolate may take to close before it is ended by force. */
const RETIRE_GRACE_MS = 5000;
/** How often idle isolates are looked at (idle too long: retired). */
const SWEEP_MS = 5000;

/** The pool an isolate belongs to: its mode and heap limit. */
const keyOf = (mode: IsolationMode, memoryLimitMb: number): string => `${mode}:${memoryLimitMb}`;

/**
 * The worker threads and child processes that run isolated funcs, one task at a time each, reused
 * from run to run (a no-op task pays no start). An isolate is started when none of its kind is
 * idle: at most one per worker slot, since every run holds one. One is retired after
 * ISOLATE_MAX_TASKS tasks, ISOLATE_MAX_MINUTES, above ISOLATE_MAX_MEMORY_MB, or idle for
 * ISOLATE_IDLE_SECONDS; one whose run is aborted (timeout, cancel, shutdown, a lost session) and
 * has not returned by its hard timeout (the func's hardTimeout, else ISOLATE_KILL_GRACE_SECONDS
 * after the abort) is ended by force: its handler with it.
 */
@Injectable()
export class IsolatePool implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('IsolatePool');
  private readonly idle = new Map<string, Isolate[]>();
  private readonly all = new Set<Isolate>();
  private sweeper?: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly registry: TaskRegistry,
    private readonly config: AppConfig,
  ) {}

  /** Funcs of this worker that run isolated, by pool. */
  private isolatedFuncs(): Map<string, { mode: IsolationMode; memoryLimitMb: number; funcs: RegisteredFunc[] }> {
    const pools = new Map<string, { mode: IsolationMode; memoryLimitMb: number; funcs: RegisteredFunc[] }>();
    for (const func of this.registry.all()) {
      if (func.isolation === 'inline') continue;
      const key = keyOf(func.isolation, func.memoryLimitMb);
      const pool = pools.get(key) ?? { mode: func.isolation, memoryLimitMb: func.memoryLimitMb, funcs: [] };
      pool.funcs.push(func);
      pools.set(key, pool);
    }
    return pools;
  }

  /**
   * Starts one isolate of each kind the funcs need and checks that the handlers files define
   * every isolated func: a wrong file stops the boot here, not each task later.
   */
  async onModuleInit(): Promise<void> {
    const pools = this.isolatedFuncs();
    if (pools.size === 0) return;
    const names = [...pools.values()].flatMap((p) => p.funcs.map((f) => `${f.name} (${f.isolation})`));
    if (this.config.handlers.length === 0) {
      throw new Error(
        `${names.join(', ')} run isolated, but no handlers files are known: an isolate boots the Nest modules of your handlers from their compiled files ` +
          '(LaterzModule.forRoot({ handlers: [...] }), `laterz start --handlers`, or LATERZ_HANDLERS)',
      );
    }
    try {
      for (const pool of pools.values()) {
        const isolate = await this.startIsolate(pool.mode, pool.memoryLimitMb);
        this.park(isolate);
        const found = new Set(await isolate.funcs);
        const missing = pool.funcs.filter((f) => !found.has(f.name)).map((f) => f.name);
        if (missing.length > 0) {
          throw new Error(`isolated func(s) ${missing.join(', ')}: no @TaskHandler of that name in the handlers files an isolate boots (${this.config.handlers.join(', ')})`);
        }
      }
    } catch (err) {
      // The boot stops here: no shutdown hook will end the isolates started so far.
      await this.onApplicationShutdown();
      throw err;
    }
    this.sweeper = setInterval(() => this.sweepIdle(), SWEEP_MS);
    this.sweeper.unref();
    this.logger.log(`isolated: ${names.join(', ')}`);
  }

  /** Ends every isolate: idle ones gracefully, any still running by force (their tasks were handed back or finished). */
  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    await Promise.all([...this.all].map((isolate) => (isolate.busy ? isolate.kill() : isolate.retire(RETIRE_GRACE_MS))));
  }

  /** How many isolates are alive, and how many of them run a task. */
  counts(): { alive: number; busy: number } {
    let busy = 0;
    for (const isolate of this.all) if (isolate.busy) busy++;
    return { alive: this.all.size, busy };
  }

  /**
   * Runs `task`'s handler in an isolate of its func's kind; settles when the handler has (its
   * result, or its error), or when the isolate ends (a crash, out of memory, ended by force).
   */
  async run(func: RegisteredFunc, task: ClaimedTask, abort: RunAbort, io: IsolatedRunIo): Promise<unknown> {
    const mode = func.isolation as IsolationMode;
    const isolate = this.takeIdle(keyOf(mode, func.memoryLimitMb)) ?? (await this.startIsolate(mode, func.memoryLimitMb));
    let killer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      const reason = abort.reason instanceof Error ? abort.reason : new Error('aborted');
      isolate.abort(reason);
      const hardAfter = reason instanceof TaskTimeout ? func.hardTimeoutMs - func.timeoutMs : this.config.isolate.killGraceMs;
      killer = setTimeout(() => {
        this.logger.warn(`task ${task.id} (${task.func}) attempt ${task.attempt}: its handler has not returned ${hardAfter / 1000}s after ${reason.message}: ending its ${isolate.describe()}`);
        void isolate.kill();
      }, hardAfter);
    };
    const signal = abort.signal;
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await isolate.run({ id: task.id, collection: task.collection, func: task.func, attempt: task.attempt, args: task.args, deps: encodeDeps(task.deps) }, io);
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(killer);
      this.afterRun(isolate);
    }
  }

  private async startIsolate(mode: IsolationMode, memoryLimitMb: number): Promise<Isolate> {
    const boot: IsolateBoot = { handlers: [...this.config.handlers] };
    const isolate = await Isolate.start(mode, boot, memoryLimitMb).catch((err: Error) => {
      throw new Error(`starting a ${mode === 'thread' ? 'worker thread' : 'child process'} for isolated handlers failed: ${err.message}`, { cause: err });
    });
    this.all.add(isolate);
    return isolate;
  }

  /** Back to the idle list, unless it ended or is due for recycling. */
  private afterRun(isolate: Isolate): void {
    if (!isolate.alive) {
      this.all.delete(isolate);
      return;
    }
    const why = this.recycleReason(isolate);
    if (why !== undefined || this.closing) {
      if (why) this.logger.log(`recycling ${isolate.describe()}: ${why}`);
      void this.retire(isolate);
      return;
    }
    this.park(isolate);
  }

  /** The most recently parked isolate of a kind that is still alive (one may have ended while idle). */
  private takeIdle(key: string): Isolate | undefined {
    const list = this.idle.get(key);
    for (let isolate = list?.pop(); isolate; isolate = list?.pop()) {
      if (isolate.alive) return isolate;
      this.all.delete(isolate);
    }
    return undefined;
  }

  private park(isolate: Isolate): void {
    isolate.idleSince = Date.now();
    const key = keyOf(isolate.mode, isolate.memoryLimitMb);
    const list = this.idle.get(key) ?? [];
    list.push(isolate);
    this.idle.set(key, list);
  }

  private recycleReason(isolate: Isolate): string | undefined {
    const { maxTasks, maxAgeMs, maxMemoryMb } = this.config.isolate;
    if (maxTasks > 0 && isolate.tasks >= maxTasks) return `ran ${isolate.tasks} tasks (ISOLATE_MAX_TASKS)`;
    if (maxAgeMs > 0 && Date.now() - isolate.startedAt >= maxAgeMs) return `started ${Math.round((Date.now() - isolate.startedAt) / 60_000)} minutes ago (ISOLATE_MAX_MINUTES)`;
    if (maxMemoryMb > 0 && isolate.memory >= maxMemoryMb * 1024 * 1024) return `uses ${Math.round(isolate.memory / 1024 / 1024)} MB (ISOLATE_MAX_MEMORY_MB)`;
    return undefined;
  }

  private async retire(isolate: Isolate): Promise<void> {
    for (const list of this.idle.values()) {
      const i = list.indexOf(isolate);
      if (i >= 0) list.splice(i, 1);
    }
    await isolate.retire(RETIRE_GRACE_MS);
    this.all.delete(isolate);
  }

  private sweepIdle(): void {
    const idleMs = this.config.isolate.idleMs;
    const now = Date.now();
    for (const list of this.idle.values()) {
      // The oldest idle first; one of each kind stays, warm.
      for (const isolate of list.slice(0, -1)) if (now - isolate.idleSince >= idleMs) void this.retire(isolate);
    }
  }
}
