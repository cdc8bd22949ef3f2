import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { CollectionStatsEntity } from '../../collections/collection-stats.entity.js';
import { CollectionsService } from '../../collections/collections.service.js';
import { AppConfig } from '../../config/app-config.js';
import { LATERZ_DATA_SOURCE } from '../../database/database.module.js';
import { Db } from '../../database/db.js';
import { JobKey, runExclusive } from '../job-lock.js';
import { JobOutcome, MaintenanceJob } from '../maintenance-job.js';
import { shuffled } from '../shuffled.js';
import { FuncCatalog } from '../../tasks/func-catalog.js';
import { StatsGateway } from './stats.gateway.js';

export interface FuncStats {
  counts: Record<string, number>;
  outdated: number;
  bytes: number;
  finished: { m1: number; m5: number; m60: number };
  durationSeconds: { p50: number | null; p95: number | null };
}

export interface CollectionStats {
  total: number;
  counts: Record<string, number>;
  outdated: number;
  bytes: number;
  /** Tasks still to run: not finished, plus outdated ones. */
  remaining: number;
  finished: { m1: number; m5: number; m60: number };
  /** Seconds to finish `remaining` at the rate of the last 5 minutes; null when nothing finished. */
  etaSeconds: number | null;
  oldestPendingSeconds: number | null;
  /** Broken reasons over every broken task; error messages over each func's latest 1,000 errors. */
  topReasons: { status: string; reason: string; count: number }[];
  funcs: Record<string, FuncStats>;
}

const UNFINISHED = ['pending', 'queued', 'started', 'deferred', 'error'];
/** Error messages are counted over each func's latest this many errors (broken reasons: all). */
const ERRORS_SAMPLED = 1000;

export interface StatsReport extends JobOutcome {
  /** Collections whose statistics were saved. */
  collections: number;
  /** Collections whose statistics failed (logged; the run goes on). */
  errors: number;
}

/** save_stats: per collection, computed by the scheduler and saved; the API serves the saved row. */
@Injectable()
@MaintenanceJob()
export class StatsService implements MaintenanceJob<StatsReport> {
  readonly name = 'stats';
  private readonly logger = new Logger(StatsService.name);

  constructor(
    private readonly db: Db,
    private readonly gateway: StatsGateway,
    @InjectRepository(CollectionStatsEntity, LATERZ_DATA_SOURCE) private readonly saved: Repository<CollectionStatsEntity>,
    private readonly collections: CollectionsService,
    private readonly catalog: FuncCatalog,
    private readonly config: AppConfig,
  ) {}

  /** STATS_INTERVAL_SECONDS, in milliseconds. */
  get every(): number {
    return this.config.scheduler.statsIntervalMs;
  }

  /** Saves the statistics of every collection, until the deadline; counts what it saved. */
  async runOnce(): Promise<StatsReport> {
    const report = { skipped: true, collections: 0, errors: 0 };
    await runExclusive(this.db, JobKey.Stats, this.config.scheduler.deadlineMs, this.logger, async (_s, deadline) => {
      report.skipped = false;
      for (const c of shuffled(await this.collections.list())) {
        if (Date.now() > deadline) break;
        try {
          await this.saveFor(c.name);
          report.collections++;
        } catch (err) {
          report.errors++;
          this.logger.error(`stats of ${c.name} failed: ${(err as Error).message}`);
        }
      }
    });
    return report;
  }

  /** Computes and saves one collection's statistics. */
  async saveFor(collection: string): Promise<CollectionStats> {
    const t0 = performance.now();
    const stats = await this.compute(collection);
    await this.gateway.save(collection, stats, Math.round(performance.now() - t0));
    return stats;
  }

  /** The saved row, or null before the first stats run. */
  get(collection: string): Promise<CollectionStatsEntity | null> {
    return this.saved.findOneBy({ collection });
  }

  async compute(collection: string): Promise<CollectionStats> {
    // Every func known here or in the database, at its current version (what `outdated` is measured against).
    const funcs = this.catalog.all();
    const counts = await this.db.transaction((tx) =>
      this.gateway.countsWithoutSeqscan(
        tx,
        collection,
        funcs.map((f) => f.name),
        funcs.map((f) => f.version),
      ),
    );
    // The funcs that have tasks here: the other statements read one index range per func.
    const seenFuncs = [...new Set(counts.map((c) => c.func))];
    const [recent, oldestPendingSeconds, reasons] = await Promise.all([
      this.gateway.recent(collection, seenFuncs),
      this.gateway.oldestPendingSeconds(collection, seenFuncs),
      this.gateway.topReasons(collection, seenFuncs, ERRORS_SAMPLED),
    ]);

    const byFunc: Record<string, FuncStats> = {};
    const func = (name: string) =>
      (byFunc[name] ??= { counts: {}, outdated: 0, bytes: 0, finished: { m1: 0, m5: 0, m60: 0 }, durationSeconds: { p50: null, p95: null } });
    const totals: Record<string, number> = {};
    let outdated = 0;
    let bytes = 0;
    for (const c of counts) {
      const f = func(c.func);
      f.counts[c.status] = Number(c.n);
      f.outdated += Number(c.outdated);
      f.bytes += Number(c.bytes);
      totals[c.status] = (totals[c.status] ?? 0) + Number(c.n);
      outdated += Number(c.outdated);
      bytes += Number(c.bytes);
    }
    const finished = { m1: 0, m5: 0, m60: 0 };
    for (const r of recent) {
      const f = func(r.func);
      f.finished = { m1: Number(r.m1), m5: Number(r.m5), m60: Number(r.m60) };
      f.durationSeconds = { p50: r.p50, p95: r.p95 };
      finished.m1 += Number(r.m1);
      finished.m5 += Number(r.m5);
      finished.m60 += Number(r.m60);
    }
    const remaining = UNFINISHED.reduce((sum, s) => sum + (totals[s] ?? 0), 0) + outdated;
    const ratePerSecond = finished.m5 / 300;
    return {
      total: Object.values(totals).reduce((a, b) => a + b, 0),
      counts: totals,
      outdated,
      bytes,
      remaining,
      finished,
      etaSeconds: remaining === 0 ? 0 : ratePerSecond > 0 ? Math.round(remaining / ratePerSecond) : null,
      oldestPendingSeconds,
      topReasons: reasons.map((r) => ({ status: r.status, reason: r.reason, count: Number(r.n) })),
      funcs: byFunc,
    };
  }
}
