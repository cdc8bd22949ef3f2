import { Injectable, Logger } from '@nestjs/common';
import { Broker, PublishPriority, PublishRef } from '../../broker/broker.js';
import { CollectionEntity } from '../../collections/collection.entity.js';
import { CollectionsService } from '../../collections/collections.service.js';
import { AppConfig } from '../../config/app-config.js';
import { Db } from '../../database/db.js';
import { JobKey, runExclusive } from '../job-lock.js';
import { MaintenanceJob } from '../maintenance-job.js';
import { shuffled } from '../shuffled.js';
import { CatalogFunc, FuncCatalog } from '../../tasks/func-catalog.js';
import { DEFAULT_RETRY, resolveRetryPolicy, retryDelay, withOverride, type ResolvedRetryPolicy, type RetryOverride, type RetryTiers } from '../../tasks/retry-policy.js';
import { BrokenReason, TaskStatus } from '../../tasks/task-status.js';
import { failsForGood, type TaskFailure } from '../../tasks/failure-hooks.js';
import { DispatchGateway, KilledRow, ProbeRow, Slice } from './dispatch.gateway.js';

/** Which branch of `dispatchFor` queued a batch. */
export type DispatchBranch = 'pending' | 'deferred' | 'outdated' | 'resync' | 'retry';

export interface DispatchReport {
  /** True when another replica ran the dispatcher and this run did nothing. */
  skipped: boolean;
  queued: Record<DispatchBranch, number>;
  lostQueuedReset: number;
  killed: number;
  /** Failed tasks of bulk funcs sent back to pending by the retry tiers (for the bulk runner). */
  bulkRetried: number;
  pairsVisited: number;
  pairsSkippedFullQueue: number;
  /** Pairs with work left for a later tick: the tick's row budget (DISPATCH_TICK_MAX_ROWS) was spent. */
  pairsOverBudget: number;
  errors: number;
}

/** A report with nothing done yet (runOnce starts from it; tests pass one to dispatchFor). */
export function emptyDispatchReport(): DispatchReport {
  return {
    skipped: true,
    queued: { pending: 0, deferred: 0, outdated: 0, resync: 0, retry: 0 },
    lostQueuedReset: 0,
    killed: 0,
    bulkRetried: 0,
    pairsVisited: 0,
    pairsSkippedFullQueue: 0,
    pairsOverBudget: 0,
    errors: 0,
  };
}

/** The probe's answer for one pair; a pair the probe did not return has nothing to do. */
type PairWork = Omit<ProbeRow, 'collection' | 'func'>;

/** What one tick carries from pair to pair. */
interface Tick {
  /** Queue depth per func, read once per tick and counted up by what the tick queues itself. */
  depths: Map<string, number>;
  budget: TickBudget;
  /** Queued by the tick's committed statements, published once at its end (one round trip, not one per batch). */
  outbox: PublishRef[];
}

/**
 * The rows a tick may still change. A changed row costs about 40 µs at 1M rows (measured on the
 * bench table: the rows a batch takes lie on as many pages, and each page's first change after a
 * checkpoint writes a full-page image, about 14 kB of WAL a row, whatever the table size), so the
 * tick's length follows the rows it changes, not the pairs it visits: the budget bounds it. Dead
 * tasks get a quarter (killing them sooner makes nothing run sooner: the retry tiers wait minutes);
 * the rest is shared evenly by the funcs with work, so one func's backlog cannot starve the others.
 * The default, 300, keeps a refill tick at 1M near 50 ms even on a cold scheduler. It cannot feed
 * busy workers by itself (two no-op workers drain ~15,000 tasks/s: 10 s of that would be a 7 s
 * tick) and need not: enqueue publishes, a finish publishes the next tasks and tops up 20 per pair
 * every 250 ms; a tick restarts the pairs nobody feeds, a few dozen tasks each.
 */
class TickBudget {
  private left: number;
  private share = 0;
  private readonly used = new Map<string, number>();

  constructor(private readonly total: number) {
    this.left = total;
  }

  forDead(cap: number): number {
    return Math.min(cap, Math.ceil(this.total / 4), this.left);
  }

  /** After the dead-task scan: what is left, split over the funcs that have work. */
  split(funcs: number): void {
    this.share = Math.ceil(this.left / Math.max(1, funcs));
  }

  forFunc(func: string, cap: number): number {
    return Math.max(0, Math.min(cap, this.left, this.share - (this.used.get(func) ?? 0)));
  }

  spend(n: number, func?: string): void {
    this.left = Math.max(0, this.left - n);
    if (func !== undefined) this.used.set(func, (this.used.get(func) ?? 0) + n);
  }
}

/**
 * Keeps work flowing (snoop's run_dispatcher / dispatch_for): finds dead `started` tasks, then per
 * collection and func refills a shallow broker queue with one batch — pending, then deferred,
 * outdated, resync, failed by tiers. A tick is one probe of every pair (what each has to do), the
 * dead-task scan when the probe saw dead tasks, a depth read per func with work, and one LIMITed,
 * indexed batch per pair that has work: an idle tick costs the same on 1,000 rows as on 10,000,000,
 * and a busy one changes at most DISPATCH_TICK_MAX_ROWS rows.
 */
@Injectable()
@MaintenanceJob()
export class DispatcherService implements MaintenanceJob<DispatchReport> {
  readonly name = 'dispatcher';
  private readonly logger = new Logger(DispatcherService.name);

  constructor(
    private readonly db: Db,
    private readonly gateway: DispatchGateway,
    private readonly broker: Broker,
    private readonly catalog: FuncCatalog,
    private readonly collections: CollectionsService,
    private readonly config: AppConfig,
  ) {}

  /** DISPATCH_INTERVAL_SECONDS, in milliseconds. */
  get every(): number {
    return this.config.scheduler.dispatchIntervalMs;
  }

  /** One tick over every collection with `process` set; counts what it did. */
  async runOnce(): Promise<DispatchReport> {
    const report = emptyDispatchReport();
    await runExclusive(this.db, JobKey.Dispatcher, this.config.scheduler.deadlineMs, this.logger, async (_session, deadline) => {
      report.skipped = false;
      // Every func this process or the database knows, and whether a live server runs it (read
      // again each tick: a worker that started or stopped elsewhere counts from this tick on).
      const funcs = await this.catalog.refresh();
      const collections = shuffled((await this.collections.list()).filter((c) => c.process));
      if (collections.length === 0 || funcs.length === 0) return;
      const work = await this.probe(collections, funcs);
      const tick = this.newTick();
      await this.killDead(work, tick.budget, report);
      tick.budget.split(new Set([...work.entries()].filter(([, todo]) => hasQueueWork(todo)).map(([key]) => splitKey(key)[1])).size);
      try {
        for (const collection of collections) {
          for (const func of shuffled(funcs)) {
            if (Date.now() > deadline) return;
            report.pairsVisited++;
            const todo = work.get(pairKey(collection.name, func.name));
            if (!todo) continue;
            try {
              await this.dispatchPair(collection, func, todo, tick, report);
            } catch (err) {
              report.errors++;
              this.logger.error(`dispatch ${collection.name}/${func.name} failed: ${(err as Error).message}`);
            }
          }
        }
      } finally {
        await this.publish(tick);
      }
    });
    return report;
  }

  /**
   * One (collection, func) as a tick treats it: dead tasks, lost messages, then at most one batch,
   * first found wins. Bulk funcs get only the dead-task scan and the retry tiers, and so do funcs
   * no live server runs.
   */
  async dispatchFor(collection: CollectionEntity, named: { name: string }, report: DispatchReport): Promise<void> {
    report.pairsVisited++;
    await this.catalog.refresh();
    const func = this.catalog.get(named.name);
    if (!func) return;
    const work = await this.probe([collection], [func]);
    const tick = this.newTick();
    await this.killDead(work, tick.budget, report);
    tick.budget.split(1);
    const todo = work.get(pairKey(collection.name, func.name));
    try {
      if (todo) await this.dispatchPair(collection, func, todo, tick, report);
    } finally {
      await this.publish(tick);
    }
  }

  private newTick(): Tick {
    return { depths: new Map(), budget: new TickBudget(this.config.dispatch.tickMaxRows), outbox: [] };
  }

  private async publish(tick: Tick): Promise<void> {
    if (tick.outbox.length > 0) await this.broker.publish(tick.outbox, PublishPriority.Dispatch);
  }

  /**
   * Dead started tasks of the pairs whose probe saw some become broken/task_killed; those pairs
   * then look at their retry tiers too (a tier of 0 minutes retries them in this very tick).
   */
  private async killDead(work: Map<string, PairWork>, budget: TickBudget, report: DispatchReport): Promise<void> {
    const dead = [...work.entries()].filter(([, todo]) => todo.dead);
    if (dead.length === 0) return;
    const d = this.config.dispatch;
    const killed = await this.gateway.killDeadStarted(
      [...new Set(dead.map(([key]) => splitKey(key)[0]))],
      [...new Set(dead.map(([key]) => splitKey(key)[1]))],
      d.deadAfterSeconds,
      budget.forDead(d.queueLimit),
    );
    budget.spend(killed.length);
    report.killed += killed.length;
    if (killed.length === 0) return;
    const retries: { id: string; ms: number }[] = [];
    const final: TaskFailure[] = [];
    for (const k of killed) {
      const func = this.catalog.get(k.func);
      const failure: TaskFailure = { taskId: k.id, collection: k.collection, func: k.func, attempt: k.attempt, status: TaskStatus.Broken, reason: BrokenReason.TaskKilled, error: k.error, failCount: k.fail_count };
      if (func?.bulk) {
        // A bulk func's failures follow the retry tiers (a tier of 0 minutes retries them in this very tick), a kill as an error.
        const todo = work.get(pairKey(k.collection, k.func));
        if (todo) todo.tier = 1;
        if (failsForGood({ status: TaskStatus.Error, failCount: k.fail_count }, { tiers: d.retryTiers })) final.push(failure);
        continue;
      }
      const ms = killedRetryIn(func, k, d.retryTiers);
      if (ms !== null) retries.push({ id: k.id, ms });
      else final.push(failure);
    }
    await this.gateway.scheduleKilledRetry(retries);
    // Killed with no retry left: the failure hooks hear of them, off the tick's path.
    if (final.length > 0) void this.catalog.failureHooks.report(final);
    const where = [...new Set(killed.map((k) => `${k.collection}/${k.func}`))].join(', ');
    this.logger.warn(`${killed.length} dead started tasks marked task_killed (${where})`);
  }

  /** The pairs that have something to do, from one statement. */
  private async probe(collections: CollectionEntity[], funcs: CatalogFunc[]): Promise<Map<string, PairWork>> {
    const d = this.config.dispatch;
    const rows = await this.gateway.probe({
      collections,
      funcs,
      minAgeSeconds: d.minAgeSeconds,
      retryTiers: d.retryTiers,
      lookForLost: this.broker.transport !== 'postgres',
      queuedGraceSeconds: d.queuedGraceSeconds,
      deadAfterSeconds: d.deadAfterSeconds,
    });
    const work = new Map<string, PairWork>();
    for (const { collection, func, ...todo } of rows) {
      if (todo.dead || hasQueueWork(todo)) work.set(pairKey(collection, func), todo);
    }
    return work;
  }

  private async dispatchPair(collection: CollectionEntity, func: CatalogFunc, todo: PairWork, tick: Tick, report: DispatchReport): Promise<void> {
    const d = this.config.dispatch;
    const { depths, budget } = tick;
    if (func.bulk) return this.retryBulk(collection, func, todo, budget, report);
    if (!hasQueueWork(todo)) return;

    let depth = depths.get(func.name);
    if (depth === undefined) {
      const broker = await this.broker.depth({ func: func.name, queue: func.queue });
      if (todo.lost && broker.ready === 0 && broker.unacked === 0) {
        // The broker lost what the rows say is queued (a restart without persistence): run them again.
        const reset = await this.gateway.resetLostQueued(collection.name, func.name, d.queuedGraceSeconds);
        report.lostQueuedReset += reset.length;
        budget.spend(reset.length, func.name);
        if (reset.length > 0) {
          this.logger.warn(`${collection.name}/${func.name}: broker queue empty, ${reset.length} queued rows back to pending`);
          todo = { ...todo, pending: true };
        }
      }
      depth = broker.ready;
    }
    depths.set(func.name, depth);
    const queue = async (queued: Promise<PublishRef[]>, branch: DispatchBranch) => {
      const n = this.queued(await queued, branch, tick, report);
      depths.set(func.name, depths.get(func.name)! + n);
      budget.spend(n, func.name);
      return n;
    };
    if (depth >= d.minQueueSize) {
      report.pairsSkippedFullQueue++;
      return;
    }
    // No snoop-style "small backlog" skip of a shallow queue: queueing changes the rows, so nothing
    // is queued twice, and with one queue per func shared by all collections that skip starved a
    // collection's few tasks while another collection kept the func's queue non-empty.
    const room = Math.max(0, Math.min(d.queueLimit, d.maxQueueSize - depth));
    if (room === 0) return;
    const limit = budget.forFunc(func.name, room);
    if (limit === 0) {
      report.pairsOverBudget++;
      return;
    }
    const minAge = d.minAgeSeconds;
    const slice: Slice = { collection: collection.name, func: func.name, limit };

    if (todo.pending) {
      const newest = await queue(this.gateway.queuePendingNewest(slice, minAge), 'pending');
      if (newest > 0) {
        // A large backlog: its oldest end is queued too, so old work is not starved by new.
        const more = budget.forFunc(func.name, Math.min(room, d.maxQueueSize - depth - newest));
        if (more <= 0) return;
        if (await this.gateway.pendingBeyond(collection.name, func.name, 3 * d.queueLimit)) {
          await queue(this.gateway.queuePendingOldest({ ...slice, limit: more }, minAge), 'pending');
        }
        return;
      }
    }
    // The probe saw what is there; a branch found empty since (a worker was quicker) falls through.
    if (todo.deferred && (await queue(this.gateway.queueDeferredOldest(slice, minAge), 'deferred'))) return;
    if (todo.outdated && (await queue(this.gateway.queueOutdated(slice, func.version), 'outdated'))) return;
    if (todo.resync && func.resyncMs !== undefined) await queue(this.gateway.queueResync(slice, func.resyncMs / 1000), 'resync');
    // Failures are not retried here: their retry policy set their run_after, and the due scan queues them.
  }

  /**
   * Bulk funcs are never queued (the bulk runner takes their rows), but their failures follow the
   * same retry tiers, and a batch whose scheduler died is found dead like any started task.
   */
  private async retryBulk(collection: CollectionEntity, func: CatalogFunc, todo: PairWork, budget: TickBudget, report: DispatchReport): Promise<void> {
    if (todo.tier === null) return;
    const limit = budget.forFunc(func.name, this.config.dispatch.queueLimit);
    if (limit === 0) {
      report.pairsOverBudget++;
      return;
    }
    for (const tier of this.config.dispatch.retryTiers.slice(todo.tier - 1)) {
      const reset = await this.gateway.pendFailedTier({ collection: collection.name, func: func.name, limit }, tier.minutes, tier.failLimit);
      budget.spend(reset.length, func.name);
      if (reset.length > 0) {
        report.bulkRetried += reset.length;
        this.logger.log(`${collection.name}/${func.name}: ${reset.length} failed bulk tasks back to pending`);
        return;
      }
    }
  }

  /** Counts what one queueing statement queued; it goes out with the tick's publish. Returns how many. */
  private queued(refs: PublishRef[], branch: DispatchBranch, tick: Tick, report: DispatchReport): number {
    if (refs.length === 0) return 0;
    report.queued[branch] += refs.length;
    this.logger.log(`${refs[0].collection}/${refs[0].func}: queued ${refs.length} ${branch} tasks`);
    tick.outbox.push(...refs);
    return refs.length;
  }
}

/**
 * A killed task's retry by its func's policy (as the catalog records it: a function backoff counts
 * as the default one, there being no handler here to call) and its enqueue's override; null: none.
 */
function killedRetryIn(func: CatalogFunc | undefined, k: KilledRow, tiers: RetryTiers): number | null {
  let policy: ResolvedRetryPolicy;
  try {
    policy = resolveRetryPolicy(func?.retryJson, 'retry', DEFAULT_RETRY, true);
  } catch {
    policy = DEFAULT_RETRY;
  }
  return retryDelay(withOverride(policy, k.retry as RetryOverride | null), k.fail_count, { status: 'broken', reason: BrokenReason.TaskKilled }, tiers);
}

/** Anything for the queueing branches (or, for a bulk func, its tiers): what the budget is shared by. */
function hasQueueWork(todo: PairWork): boolean {
  return todo.pending || todo.deferred || todo.outdated || todo.resync || todo.tier !== null || todo.lost;
}

function pairKey(collection: string, func: string): string {
  return `${collection}\u0000${func}`;
}

function splitKey(key: string): [string, string] {
  const [collection, func] = key.split('\u0000');
  return [collection, func];
}
