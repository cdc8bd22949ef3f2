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
  KILL_DEAD_STARTED,
  PENDING_BEYOND,
  QUEUE_DEFERRED_OLDEST,
  QUEUE_FAILED_TIER,
  QUEUE_OUTDATED,
  QUEUE_PENDING_NEWEST,
  QUEUE_PENDING_OLDEST,
  QUEUE_RESYNC,
  REMAINING_BEYOND,
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
  pairsVisited: number;
  pairsSkippedFullQueue: number;
  errors: number;
}

/**
 * Keeps work flowing (snoop's run_dispatcher / dispatch_for): per collection and func, refill a
 * shallow broker queue with one batch — pending, then deferred, outdated, resync, failed by tiers —
 * and find dead `started` tasks. Every statement is one LIMITed, indexed batch.
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

  async runOnce(): Promise<DispatchReport> {
    const report: DispatchReport = {
      skipped: true,
      queued: { pending: 0, deferred: 0, outdated: 0, resync: 0, retry: 0 },
      lostQueuedReset: 0,
      killed: 0,
      pairsVisited: 0,
      pairsSkippedFullQueue: 0,
      errors: 0,
    };
    await runExclusive(this.pool, JobKey.Dispatcher, this.config.scheduler.deadlineMs, this.logger, async (_session, deadline) => {
      report.skipped = false;
      const funcs = this.registry.all().filter((f) => !f.bulk);
      for (const collection of shuffled(await this.collections.list())) {
        if (!collection.process) continue;
        for (const func of shuffled(funcs)) {
          if (Date.now() > deadline) return;
          try {
            await this.dispatchFor(collection, func, report);
          } catch (err) {
            report.errors++;
            this.logger.error(`dispatch ${collection.name}/${func.name} failed: ${(err as Error).message}`);
          }
        }
      }
    });
    return report;
  }

  /** One (collection, func): dead tasks, lost messages, then at most one batch, first found wins. */
  async dispatchFor(collection: CollectionEntity, func: RegisteredFunc, report: DispatchReport): Promise<void> {
    const q = pgQueryable(this.pool);
    const d = this.config.dispatch;
    report.pairsVisited++;
    const killed = await q.rows(KILL_DEAD_STARTED, [collection.name, func.name, d.deadAfterSeconds, d.queueLimit]);
    report.killed += killed.length;
    if (killed.length > 0) this.logger.warn(`${collection.name}/${func.name}: ${killed.length} dead started tasks marked task_killed`);

    const depth = await this.broker.depth({ func: func.name, queue: func.queue });
    if (depth.ready === 0 && depth.unacked === 0 && this.broker.transport !== 'postgres') {
      const reset = await q.rows(RESET_LOST_QUEUED, [collection.name, func.name, d.queuedGraceSeconds]);
      report.lostQueuedReset += reset.length;
      if (reset.length > 0) this.logger.warn(`${collection.name}/${func.name}: broker queue empty, ${reset.length} queued rows back to pending`);
    }
    if (depth.ready >= d.minQueueSize) {
      report.pairsSkippedFullQueue++;
      return;
    }
    if (depth.ready > 0) {
      // A shallow queue over a small backlog: queueing now would only queue the same tasks twice.
      const [more] = await q.rows<{ beyond: boolean }>(REMAINING_BEYOND, [collection.name, func.name, d.queueLimit]);
      if (!more.beyond) return;
    }
    const limit = Math.max(0, Math.min(d.queueLimit, d.maxQueueSize - depth.ready));
    if (limit === 0) return;
    const minAge = d.minAgeSeconds;
    const key = [collection.name, func.name, limit] as const;

    if (await this.queue(q, QUEUE_PENDING_NEWEST, [...key, minAge], 'pending', report)) {
      const [big] = await q.rows<{ beyond: boolean }>(PENDING_BEYOND, [collection.name, func.name, 3 * d.queueLimit]);
      if (big.beyond) await this.queue(q, QUEUE_PENDING_OLDEST, [...key, minAge], 'pending', report);
      return;
    }
    if (await this.queue(q, QUEUE_DEFERRED_OLDEST, [...key, minAge], 'deferred', report)) return;
    if (await this.queue(q, QUEUE_OUTDATED, [...key, func.version], 'outdated', report)) return;
    if (collection.sync && func.resyncMs !== undefined) {
      if (await this.queue(q, QUEUE_RESYNC, [...key, func.resyncMs / 1000], 'resync', report)) return;
    }
    for (const tier of d.retryTiers) {
      if (await this.queue(q, QUEUE_FAILED_TIER, [...key, tier.minutes, tier.failLimit], 'retry', report)) return;
    }
  }

  private async queue(q: Queryable, statement: Statement, values: unknown[], branch: DispatchBranch, report: DispatchReport): Promise<boolean> {
    const refs = await q.rows<TaskRef>(statement, values);
    if (refs.length === 0) return false;
    report.queued[branch] += refs.length;
    this.logger.log(`${refs[0].collection}/${refs[0].func}: queued ${refs.length} ${branch} tasks`);
    await this.broker.publish(refs, PublishPriority.Dispatch);
    return true;
  }
}
