import { Injectable, Logger } from '@nestjs/common';
import { CollectionsService } from '../../collections/collections.service.js';
import { AppConfig } from '../../config/app-config.js';
import { Db } from '../../database/db.js';
import type { Queryable } from '../../database/queryable.js';
import { JobKey, runExclusive } from '../job-lock.js';
import { MaintenanceJob } from '../maintenance-job.js';
import { shuffled } from '../shuffled.js';
import { FuncCatalog } from '../../tasks/func-catalog.js';
import type { RegisteredFunc } from '../../tasks/task-registry.js';
import { BulkBatchResult, BulkBatchService } from './bulk-batch.service.js';
import { BulkHooks } from './bulk-hooks.js';

export interface BulkReport {
  skipped: boolean;
  batches: number;
  ran: number;
  succeeded: number;
  broken: number;
  errored: number;
  deferred: number;
  /** Funcs whose batches could not be run at all (a database error); logged, and the run goes on. */
  errors: number;
}

/**
 * Runs bulk funcs on batches (snoop's run_bulk_tasks): for each collection with `process` set and
 * each bulk func, batches (bulk-batch.service.ts) until one comes back short, with the
 * collection's @BeforeBulk / @AfterBulk hooks around them.
 */
@Injectable()
@MaintenanceJob()
export class BulkRunnerService implements MaintenanceJob<BulkReport> {
  readonly name = 'bulk-runner';
  private readonly logger = new Logger(BulkRunnerService.name);

  constructor(
    private readonly db: Db,
    private readonly catalog: FuncCatalog,
    private readonly collections: CollectionsService,
    private readonly hooks: BulkHooks,
    private readonly batches: BulkBatchService,
    private readonly config: AppConfig,
  ) {}

  /** BULK_INTERVAL_SECONDS, in milliseconds. */
  get every(): number {
    return this.config.scheduler.bulkIntervalMs;
  }

  /** Batches of every bulk func in every collection with `process` set, until the deadline; counts what ran. */
  async runOnce(): Promise<BulkReport> {
    const report: BulkReport = { skipped: true, batches: 0, ran: 0, succeeded: 0, broken: 0, errored: 0, deferred: 0, errors: 0 };
    // Its own bulk funcs, less those a newer version runs elsewhere (a rolling deploy).
    const funcs = this.catalog.claimable().filter((f) => f.bulk);
    if (funcs.length === 0) return { ...report, skipped: false };
    await runExclusive(this.db, JobKey.BulkRunner, this.config.scheduler.deadlineMs, this.logger, async (session, deadline) => {
      report.skipped = false;
      for (const collection of shuffled(await this.collections.list())) {
        if (!collection.process || Date.now() > deadline) continue;
        // The before hooks run once, when the first batch has something to run; a failure fails
        // every batch of the collection in this run (the after hooks still run).
        let before: Promise<void> | undefined;
        const beforeFirstRun = () => (before ??= this.hooks.run('before', collection.name));
        try {
          for (const func of shuffled(funcs)) {
            try {
              await this.runFunc(session, collection.name, func, deadline, beforeFirstRun, report);
            } catch (err) {
              report.errors++;
              this.logger.error(`bulk tasks ${collection.name}/${func.name} failed: ${(err as Error).message}`);
            }
          }
        } finally {
          if (before) await this.hooks.run('after', collection.name).catch((e: Error) => this.logger.error(`after-bulk hook: ${e.message}`));
        }
      }
    });
    return report;
  }

  /**
   * Batches of one func in one collection until a batch comes back short, runs nothing (all its
   * candidates wait on parents, or are held) or fails as a whole (its tasks wait in `error` for the
   * dispatcher's retry tiers, like any failed task), or the deadline.
   * Each batch's finish, on a pool connection, runs beside the next batch's start and handler on
   * the session (the two statements took equal shares of a batch's time, one after the other);
   * one finish is in flight at a time.
   */
  private async runFunc(
    session: Queryable,
    collection: string,
    func: RegisteredFunc,
    deadline: number,
    beforeRun: () => Promise<void>,
    report: BulkReport,
  ): Promise<void> {
    let finishing: Promise<void> = Promise.resolve();
    try {
      while (Date.now() < deadline) {
        const batch = await this.batches.start(session, collection, func, beforeRun);
        try {
          await finishing;
        } finally {
          // Begun even when the previous finish failed: this batch's outcomes are known.
          finishing = batch.finish();
          // Awaited below; this only keeps a failure before then from being an unhandled rejection.
          finishing.catch(() => undefined);
        }
        const r = batch.result;
        if (r.ran > 0) report.batches++;
        report.ran += r.ran;
        report.succeeded += r.succeeded;
        report.broken += r.broken;
        report.errored += r.errored;
        report.deferred += r.deferred;
        if (r.selected < this.config.bulk.maxTasks || r.ran === 0 || r.errored > 0) return;
      }
    } finally {
      await finishing;
    }
  }

  /**
   * One batch of one func in one collection, started on `session` (which holds the tasks' advisory
   * locks while they run). `beforeRun` is called once there is something to run.
   */
  runBatch(session: Queryable, collection: string, func: RegisteredFunc, beforeRun?: () => Promise<void>): Promise<BulkBatchResult> {
    return this.batches.run(session, collection, func, beforeRun);
  }
}
