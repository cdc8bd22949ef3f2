import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { Db } from '../../database/db.js';
import { JobKey, runExclusive } from '../job-lock.js';
import { JobOutcome, MaintenanceJob } from '../maintenance-job.js';
import { expiredFailure } from '../../tasks/failure-hooks.js';
import { TaskRegistry } from '../../tasks/task-registry.js';
import { ExpiryGateway } from './expiry.gateway.js';

export interface ExpiryReport extends JobOutcome {
  /** Waiting tasks past their deadline made broken / expired. */
  expired: number;
}

/** Rows per statement. */
const SLICE = 1000;

/**
 * The expiry sweep: waiting tasks (pending, queued, deferred, error) past their expiresAt end
 * broken / expired, in LIMITed slices until one comes back short or the deadline. The claim
 * expires a task it picks too, so a task past its deadline never runs, swept or not.
 */
@Injectable()
@MaintenanceJob()
export class ExpiryService implements MaintenanceJob<ExpiryReport> {
  readonly name = 'expiry';
  private readonly logger = new Logger(ExpiryService.name);

  constructor(
    private readonly db: Db,
    private readonly gateway: ExpiryGateway,
    private readonly config: AppConfig,
    private readonly registry: TaskRegistry,
  ) {}

  /** EXPIRY_INTERVAL_SECONDS, in milliseconds. */
  get every(): number {
    return this.config.scheduler.expiryIntervalMs;
  }

  async runOnce(): Promise<ExpiryReport> {
    const report = { skipped: true, expired: 0 };
    await runExclusive(this.db, JobKey.Expiry, this.config.scheduler.deadlineMs, this.logger, async (_s, deadline) => {
      report.skipped = false;
      for (;;) {
        const expired = await this.gateway.expireWaiting(SLICE);
        report.expired += expired.length;
        // Final whatever their policy: the failure hooks hear of them, off the sweep's path.
        if (expired.length > 0) void this.registry.failureHooks.report(expired.map(expiredFailure));
        if (expired.length < SLICE || Date.now() > deadline) break;
      }
    });
    if (report.expired > 0) this.logger.log(`${report.expired} waiting task(s) expired`);
    return report;
  }
}
