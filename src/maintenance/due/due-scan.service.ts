import { Injectable, Logger } from '@nestjs/common';
import { Broker, PublishPriority, PublishRef } from '../../broker/broker.js';
import { AppConfig } from '../../config/app-config.js';
import { FuncCatalog } from '../../tasks/func-catalog.js';
import { MaintenanceJob } from '../maintenance-job.js';
import { DueGateway } from './due.gateway.js';

export interface DueScanReport {
  /** Never skipped: replicas scanning at once take different rows (SKIP LOCKED). */
  skipped: boolean;
  /** Rows handed to the broker (scheduled tasks and retries whose time came). */
  queued: number;
  /** Rows of bulk funcs sent to pending (the bulk runner takes them). */
  pended: number;
  statements: number;
}

/** Rows per statement; a scan goes on while a statement comes back full, up to its deadline. */
const BATCH = 500;

/**
 * Exact scheduling (issue 18): every DUE_SCAN_INTERVAL_MS, the tasks whose `runAfter` or retry time
 * has come are queued and published, in one indexed statement per BATCH rows (task_due_idx holds
 * only the waiting rows: an idle scan is one index probe, whatever the table's size). It runs on its
 * own timer, not the dispatcher's tick, so a task starts within about the interval of its time.
 * No job lock: several replicas may scan at once, each takes other rows.
 */
@Injectable()
@MaintenanceJob()
export class DueScanService implements MaintenanceJob<DueScanReport> {
  readonly name = 'due-scan';
  private readonly logger = new Logger(DueScanService.name);

  constructor(
    private readonly gateway: DueGateway,
    private readonly broker: Broker,
    private readonly catalog: FuncCatalog,
    private readonly config: AppConfig,
  ) {}

  get every(): number {
    return this.config.scheduler.dueScanIntervalMs;
  }

  async runOnce(): Promise<DueScanReport> {
    const report: DueScanReport = { skipped: false, queued: 0, pended: 0, statements: 0 };
    const deadline = Date.now() + this.config.scheduler.deadlineMs;
    const bulk = this.catalog.bulkFuncs();
    for (;;) {
      const rows = await this.gateway.queueDue(BATCH, bulk);
      report.statements++;
      const refs: PublishRef[] = [];
      for (const r of rows) {
        if (r.status === 'queued') refs.push({ taskId: r.taskId, collection: r.collection, func: r.func, priority: r.priority });
        else report.pended++;
      }
      if (refs.length > 0) {
        report.queued += refs.length;
        await this.broker.publish(refs, PublishPriority.Enqueue);
      }
      if (rows.length < BATCH || Date.now() > deadline) break;
    }
    if (report.queued + report.pended > 0) this.logger.debug(`due: ${report.queued} queued, ${report.pended} bulk tasks pending`);
    return report;
  }
}
