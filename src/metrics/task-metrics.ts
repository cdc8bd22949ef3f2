import { Injectable, Logger } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Broker, QueueDepth } from '../broker/broker.js';
import { HandlerGuard } from '../runner/run/handler-guard.js';
import { RunnerObserver } from '../runner/runner-observer.js';
import { FuncCatalog } from '../tasks/func-catalog.js';
import { TaskRegistry } from '../tasks/task-registry.js';
import type { TaskStatus } from '../tasks/task-status.js';

/** A scrape reads the funcs and their live servers again when the catalog's copy is older than this. */
const FUNCS_MAX_AGE_MS = 1000;

/** Buckets of task and job durations, seconds: from 5 ms to 1 h. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

/**
 * The process's Prometheus metrics (a registry of its own, not prom-client's global one, so two
 * apps in one process never share counters). It observes the worker's runner (claims and
 * finishes) and the handler guard (escapes); the cron jobs report their run durations through
 * `observeJob`; queue depth is read on each scrape.
 */
@Injectable()
export class TaskMetrics implements RunnerObserver {
  private readonly logger = new Logger(TaskMetrics.name);
  readonly registry = new Registry();
  /** Where the queue-depth gauge reads from (see readDepthsFrom). */
  private depthSource: Pick<Broker, 'depth'>;
  private readonly byFuncStatus = new Map<string, { finished: Counter.Internal; duration: Histogram.Internal<'func' | 'status'> }>();

  private readonly finishedTotal = new Counter({
    name: 'laterz_tasks_finished_total',
    help: 'Tasks whose run ended, by func and final status (written by this process)',
    labelNames: ['func', 'status'] as const,
    registers: [this.registry],
  });

  private readonly duration = new Histogram({
    name: 'laterz_task_duration_seconds',
    help: 'Run time of tasks from claim to finish, by func and final status',
    labelNames: ['func', 'status'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  private readonly claimBatch = new Histogram({
    name: 'laterz_claim_batch_size',
    help: 'Deliveries per claimed micro-batch',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  private readonly claimedTasks = new Counter({
    name: 'laterz_tasks_claimed_total',
    help: 'Tasks this process claimed and started',
    registers: [this.registry],
  });

  private readonly handlerEscapes = new Counter({
    name: 'laterz_handler_escapes_total',
    help: 'Handler calls of process.exit, uncaught exceptions and unhandled rejections that the handler guard turned into a failed task',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  private readonly abandonedRunningGauge = new Gauge({
    name: 'laterz_abandoned_running',
    help: 'Runs given up here (timed out, cancelled, handed back, their session lost) whose handlers have not returned: each holds its task lock and a slot until it does',
    registers: [this.registry],
  });

  private readonly locksLost = new Counter({
    name: 'laterz_task_locks_lost_total',
    help: 'Locks of running handlers that a lost worker session could not take again (another session held them): the worker stops',
    registers: [this.registry],
  });

  private readonly isolatesGauge = new Gauge({
    name: 'laterz_isolates',
    help: 'Worker threads and child processes of isolated handlers, by kind, idle or busy (running a task)',
    labelNames: ['mode', 'state'] as const,
    registers: [this.registry],
  });

  private readonly isolateEnds = new Counter({
    name: 'laterz_isolate_ends_total',
    help: 'Isolates that ended, by kind and how: retired (recycled, idle, shutdown), task_killed (hard timeout), out_of_memory, handler_crashed, handler_exited',
    labelNames: ['mode', 'how'] as const,
    registers: [this.registry],
  });

  private readonly jobDuration = new Histogram({
    name: 'laterz_job_duration_seconds',
    help: 'Run time of the cron jobs (dispatcher, bulk runner, stats)',
    labelNames: ['job'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  constructor(
    private readonly broker: Broker,
    private readonly tasks: TaskRegistry,
    catalog: FuncCatalog,
    guard: HandlerGuard,
  ) {
    this.depthSource = broker;
    guard.onEscape((kind) => this.handlerEscapes.inc({ kind }));
    const readDepths = () => this.readDepths();
    new Gauge({
      name: 'laterz_queue_depth',
      help: 'Messages in the broker queue of each registered func, by state (read on scrape)',
      labelNames: ['queue', 'func', 'state'] as const,
      registers: [this.registry],
      async collect() {
        const depths = await readDepths();
        this.reset();
        for (const { func, depth } of depths) {
          this.set({ queue: depth.name, func, state: 'ready' }, depth.ready);
          this.set({ queue: depth.name, func, state: 'unacked' }, depth.unacked);
        }
      },
    });
    const logger = this.logger;
    new Gauge({
      name: 'laterz_func_servers',
      help: 'Live processes serving each func the database or this process knows (0: its tasks wait; read on scrape)',
      labelNames: ['func'] as const,
      registers: [this.registry],
      async collect() {
        try {
          const funcs = await catalog.fresh(FUNCS_MAX_AGE_MS);
          this.reset();
          for (const f of funcs) this.set({ func: f.name }, f.servers.length);
        } catch (err) {
          logger.warn(`func servers unavailable: ${(err as Error).message}`);
        }
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'laterz_' });
  }

  /** A micro-batch was claimed: `delivered` refs came in, `started` of them now run here. */
  claimed(delivered: number, started: number): void {
    this.claimBatch.observe(delivered);
    this.claimedTasks.inc(started);
  }

  /** A run ended and its outcome was written (`status` is the task's new status), `seconds` after its claim. */
  finished(func: string, status: TaskStatus, seconds: number): void {
    // The labelled children are kept: finding one by its labels hashes them, on every task.
    const key = `${func}\u0000${status}`;
    let series = this.byFuncStatus.get(key);
    if (!series) {
      series = { finished: this.finishedTotal.labels(func, status), duration: this.duration.labels(func, status) };
      this.byFuncStatus.set(key, series);
    }
    series.finished.inc();
    series.duration.observe(seconds);
  }

  /** Runs given up whose handlers have not returned, now. */
  abandonedRunning(count: number): void {
    this.abandonedRunningGauge.set(count);
  }

  /** A lost session's lock of a running handler was held elsewhere. */
  lockLost(): void {
    this.locksLost.inc();
  }

  isolates(mode: string, alive: number, busy: number): void {
    this.isolatesGauge.set({ mode, state: 'busy' }, busy);
    this.isolatesGauge.set({ mode, state: 'idle' }, alive - busy);
  }

  isolateEnded(mode: string, how: string): void {
    this.isolateEnds.inc({ mode, how });
  }

  /** A cron job run took `seconds` (the dispatcher, bulk and stats jobs call this). */
  observeJob(name: string, seconds: number): void {
    this.jobDuration.observe({ job: name }, seconds);
  }

  /**
   * The api role points the queue-depth gauge at its own Broker: on the PostgreSQL transport a
   * depth is a count over the task table, and a scrape must not take a connection the workers need.
   */
  readDepthsFrom(source: Pick<Broker, 'depth'>): void {
    this.depthSource = source;
  }

  /** The text exposition of every metric. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Broker depth of every registered (non-bulk) func; a queue the broker cannot count is left out. */
  private async readDepths(): Promise<{ func: string; depth: QueueDepth }[]> {
    const specs = this.tasks
      .all()
      .filter((f) => !f.bulk)
      .map((f) => ({ func: f.name, queue: f.queue }));
    const depths = await Promise.all(
      specs.map((spec) =>
        this.depthSource.depth(spec).then(
          (depth) => ({ func: spec.func, depth }),
          (err: Error) => {
            this.logger.warn(`queue depth of ${spec.func} unavailable: ${err.message}`);
            return undefined;
          },
        ),
      ),
    );
    return depths.filter((d) => d !== undefined);
  }
}
