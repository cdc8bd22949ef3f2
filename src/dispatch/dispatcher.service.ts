import { Inject, Injectable, Logger } from '@nestjs/common';
import { Pool } from 'pg';
import { Broker, PublishPriority, TaskRef } from '../broker/broker.js';
import { CollectionEntity } from '../collections/collection.entity.js';
import { CollectionsService } from '../collections/collections.service.js';
import { AppConfig } from '../config/app-config.js';
import { PG_POOL } from '../database/database.module.js';
import { JobKey, runExclusive, shuffled } from '../scheduler/job-lock.js';
import { pgQueryable, Queryable, Statement } from '../tasks/sql/queryable.js';
import { RegisteredFunc, TaskRegistry } from '../tasks/task-registry.js';
import {
  DISPATCH_PROBE,
  KILL_DEAD_STARTED,
  PEND_FAILED_TIER,
  PENDING_BEYOND,
  QUEUE_DEFERRED_OLDEST,
  QUEUE_FAILED_TIER,
  QUEUE_OUTDATED,
  QUEUE_PENDING_NEWEST,
  QUEUE_PENDING_OLDEST,
  QUEUE_RESYNC,
  ProbeRow,
  RESET_LOST_QUEUED,
} from './sql/dispatch.sql.js';

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
    errors: 0,
  };
}

/** The probe's answer for one pair; a pair the probe did not return has nothing to do. */
type PairWork = Omit<ProbeRow, 'collection' | 'func'>;

/** Queue depth per func, read once per tick and counted up by what the tick queues itself. */
type Depths = Map<string, number>;

/**
 * Keeps work flowing (snoop's run_dispatcher / dispatch_for): finds dead `started` tasks, then per
 * collection and func refills a shallow broker queue with one batch — pending, then deferred,
 * outdated, resync, failed by tiers. A tick is one probe of every pair (what each has to do), the
 * dead-task scan when the probe saw dead tasks, a depth read per func with work, and one LIMITed,
 * indexed batch per pair that has work: an idle tick costs the same on 1,000 rows as on 10,000,000.
 */
@Injectable()
export class DispatcherService {
  private readonly logger = new Logger(DispatcherService.name);

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly broker: Broker,
    private readonly registry: TaskRegistry,
    private readonly collections: CollectionsService,
    private readonly config: AppConfig,
  ) {}

  /** One tick over every collection with `process` set; counts what it did. */
  async runOnce(): Promise<DispatchReport> {
    const report = emptyDispatchReport();
    await runExclusive(this.pool, JobKey.Dispatcher, this.config.scheduler.deadlineMs, this.logger, async (_session, deadline) => {
      report.skipped = false;
      const funcs = this.registry.all();
      const collections = shuffled((await this.collections.list()).filter((c) => c.process));
      if (collections.length === 0 || funcs.length === 0) return;
      const work = await this.probe(collections, funcs);
      await this.killDead(work, report);
      const depths: Depths = new Map();
      for (const collection of collections) {
        for (const func of shuffled(funcs)) {
          if (Date.now() > deadline) return;
          report.pairsVisited++;
          const todo = work.get(pairKey(collection.name, func.name));
          if (!todo) continue;
          try {
            await this.dispatchPair(collection, func, todo, depths, report);
          } catch (err) {
            report.errors++;
            this.logger.error(`dispatch ${collection.name}/${func.name} failed: ${(err as Error).message}`);
          }
        }
      }
    });
    return report;
  }

  /**
   * One (collection, func) as a tick treats it: dead tasks, lost messages, then at most one batch,
   * first found wins. Bulk funcs get only the dead-task scan and the retry tiers.
   */
  async dispatchFor(collection: CollectionEntity, func: RegisteredFunc, report: DispatchReport): Promise<void> {
    report.pairsVisited++;
    const work = await this.probe([collection], [func]);
    await this.killDead(work, report);
    const todo = work.get(pairKey(collection.name, func.name));
    if (todo) await this.dispatchPair(collection, func, todo, new Map(), report);
  }

  /**
   * Dead started tasks of the pairs whose probe saw some become broken/task_killed; those pairs
   * then look at their retry tiers too (a tier of 0 minutes retries them in this very tick).
   */
  private async killDead(work: Map<string, PairWork>, report: DispatchReport): Promise<void> {
    const dead = [...work.entries()].filter(([, todo]) => todo.dead);
    if (dead.length === 0) return;
    const d = this.config.dispatch;
    const killed = await pgQueryable(this.pool).rows<{ id: string; collection: string; func: string }>(KILL_DEAD_STARTED, [
      [...new Set(dead.map(([key]) => splitKey(key)[0]))],
      [...new Set(dead.map(([key]) => splitKey(key)[1]))],
      d.deadAfterSeconds,
      d.queueLimit,
    ]);
    report.killed += killed.length;
    if (killed.length === 0) return;
    for (const k of killed) {
      const todo = work.get(pairKey(k.collection, k.func));
      if (todo) todo.tier = 1;
    }
    const where = [...new Set(killed.map((k) => `${k.collection}/${k.func}`))].join(', ');
    this.logger.warn(`${killed.length} dead started tasks marked task_killed (${where})`);
  }

  /** The pairs that have something to do, from one statement. */
  private async probe(collections: CollectionEntity[], funcs: RegisteredFunc[]): Promise<Map<string, PairWork>> {
    const d = this.config.dispatch;
    const rows = await pgQueryable(this.pool).rows<ProbeRow>(DISPATCH_PROBE, [
      collections.map((c) => c.name),
      collections.map((c) => c.sync),
      funcs.map((f) => f.name),
      funcs.map((f) => f.version),
      funcs.map((f) => (f.resyncMs === undefined ? null : f.resyncMs / 1000)),
      funcs.map((f) => f.bulk),
      d.minAgeSeconds,
      d.retryTiers.map((t) => t.minutes),
      d.retryTiers.map((t) => t.failLimit),
      this.broker.transport !== 'postgres',
      d.queuedGraceSeconds,
      d.deadAfterSeconds,
    ]);
    const work = new Map<string, PairWork>();
    for (const { collection, func, ...todo } of rows) {
      if (todo.dead || todo.pending || todo.deferred || todo.outdated || todo.resync || todo.tier !== null || todo.lost) work.set(pairKey(collection, func), todo);
    }
    return work;
  }

  private async dispatchPair(collection: CollectionEntity, func: RegisteredFunc, todo: PairWork, depths: Depths, report: DispatchReport): Promise<void> {
    const q = pgQueryable(this.pool);
    const d = this.config.dispatch;
    if (func.bulk) return this.retryBulk(q, collection, func, todo, report);
    if (!(todo.pending || todo.deferred || todo.outdated || todo.resync || todo.tier !== null || todo.lost)) return;

    let depth = depths.get(func.name);
    if (depth === undefined) {
      const broker = await this.broker.depth({ func: func.name, queue: func.queue });
      if (todo.lost && broker.ready === 0 && broker.unacked === 0) {
        // The broker lost what the rows say is queued (a restart without persistence): run them again.
        const reset = await q.rows(RESET_LOST_QUEUED, [collection.name, func.name, d.queuedGraceSeconds]);
        report.lostQueuedReset += reset.length;
        if (reset.length > 0) {
          this.logger.warn(`${collection.name}/${func.name}: broker queue empty, ${reset.length} queued rows back to pending`);
          todo = { ...todo, pending: true };
        }
      }
      depth = broker.ready;
    }
    depths.set(func.name, depth);
    const queue = async (statement: Statement, values: unknown[], branch: DispatchBranch) => {
      const n = await this.queue(q, statement, values, branch, report);
      depths.set(func.name, depths.get(func.name)! + n);
      return n;
    };
    if (depth >= d.minQueueSize) {
      report.pairsSkippedFullQueue++;
      return;
    }
    // No snoop-style "small backlog" skip of a shallow queue: queueing changes the rows, so nothing
    // is queued twice, and with one queue per func shared by all collections that skip starved a
    // collection's few tasks while another collection kept the func's queue non-empty.
    const limit = Math.max(0, Math.min(d.queueLimit, d.maxQueueSize - depth));
    if (limit === 0) return;
    const minAge = d.minAgeSeconds;
    const key = [collection.name, func.name, limit] as const;

    if (todo.pending) {
      const newest = await queue(QUEUE_PENDING_NEWEST, [...key, minAge], 'pending');
      if (newest > 0) {
        // A large backlog: its oldest end is queued too, so old work is not starved by new.
        const [big] = await q.rows<{ beyond: boolean }>(PENDING_BEYOND, [collection.name, func.name, 3 * d.queueLimit]);
        const room = Math.min(limit, d.maxQueueSize - depth - newest);
        if (big.beyond && room > 0) await queue(QUEUE_PENDING_OLDEST, [collection.name, func.name, room, minAge], 'pending');
        return;
      }
    }
    // The probe saw what is there; a branch found empty since (a worker was quicker) falls through.
    if (todo.deferred && (await queue(QUEUE_DEFERRED_OLDEST, [...key, minAge], 'deferred'))) return;
    if (todo.outdated && (await queue(QUEUE_OUTDATED, [...key, func.version], 'outdated'))) return;
    if (todo.resync && func.resyncMs !== undefined && (await queue(QUEUE_RESYNC, [...key, func.resyncMs / 1000], 'resync'))) return;
    if (todo.tier === null) return;
    for (const tier of d.retryTiers.slice(todo.tier - 1)) {
      if (await queue(QUEUE_FAILED_TIER, [...key, tier.minutes, tier.failLimit], 'retry')) return;
    }
  }

  /**
   * Bulk funcs are never queued (the bulk runner takes their rows), but their failures follow the
   * same retry tiers, and a batch whose scheduler died is found dead like any started task.
   */
  private async retryBulk(q: Queryable, collection: CollectionEntity, func: RegisteredFunc, todo: PairWork, report: DispatchReport): Promise<void> {
    if (todo.tier === null) return;
    for (const tier of this.config.dispatch.retryTiers.slice(todo.tier - 1)) {
      const reset = await q.rows(PEND_FAILED_TIER, [collection.name, func.name, this.config.dispatch.queueLimit, tier.minutes, tier.failLimit]);
      if (reset.length > 0) {
        report.bulkRetried += reset.length;
        this.logger.log(`${collection.name}/${func.name}: ${reset.length} failed bulk tasks back to pending`);
        return;
      }
    }
  }

  /** Runs one queueing statement and publishes what it queued; returns how many. */
  private async queue(q: Queryable, statement: Statement, values: unknown[], branch: DispatchBranch, report: DispatchReport): Promise<number> {
    const refs = await q.rows<TaskRef>(statement, values);
    if (refs.length === 0) return 0;
    report.queued[branch] += refs.length;
    this.logger.log(`${refs[0].collection}/${refs[0].func}: queued ${refs.length} ${branch} tasks`);
    await this.broker.publish(refs, PublishPriority.Dispatch);
    return refs.length;
  }
}

function pairKey(collection: string, func: string): string {
  return `${collection}\u0000${func}`;
}

function splitKey(key: string): [string, string] {
  const [collection, func] = key.split('\u0000');
  return [collection, func];
}
