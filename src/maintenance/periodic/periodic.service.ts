import { Injectable, Logger } from '@nestjs/common';
import { Broker } from '../../broker/broker.js';
import { AppConfig } from '../../config/app-config.js';
import { Db } from '../../database/db.js';
import { SLOT_KEY } from '../../schedules/schedule-definition.js';
import { type Cadence, type MissedPolicy, planSlots } from '../../schedules/schedule-slots.js';
import { type ScheduleRow, SchedulesGateway } from '../../schedules/schedules.gateway.js';
import { TasksService } from '../../tasks/tasks.service.js';
import { QueueFull } from '../../tasks/tasks.errors.js';
import { JobKey, runExclusive } from '../job-lock.js';
import { JobOutcome, MaintenanceJob } from '../maintenance-job.js';

export interface PeriodicReport extends JobOutcome {
  /** Slots fired (one task each). */
  fired: number;
  /** Schedules that had missed slots (downtime): run once or skipped, by their policy. */
  missed: number;
  /** Slots not fired because the func's queue was full (QueueFull): skipped. */
  full: number;
  /** Schedules another run moved first (nothing written here). */
  raced: number;
  /** Schedules whose firing failed (logged; they stay due). */
  errors: number;
}

/** Due schedules read per run. */
const DUE_PER_RUN = 200;
/** Slots one schedule fires per run at most (the rest stay due for the next run). */
const SLOTS_PER_SCHEDULE = 100;

/** Another run advanced the schedule first: this run's enqueue rolls back. */
class FiredElsewhere extends Error {}

/**
 * The periodic job: fires the due slots of every schedule (SchedulesService). Each slot becomes one
 * task, `func({ ...args, slot })`, enqueued in the same transaction as the conditional UPDATE that
 * moves the schedule's next run past it (`WHERE next_run = <the one read>`): a slot fires exactly
 * once across any number of scheduler replicas (the job's advisory lock makes them take turns, the
 * guarded UPDATE rolls back a second firing, and the slot in the args makes its task's identity
 * unique). Missed slots (older than PERIODIC_MISFIRE_GRACE_SECONDS) follow the schedule's policy.
 */
@Injectable()
@MaintenanceJob()
export class PeriodicService implements MaintenanceJob<PeriodicReport> {
  readonly name = 'periodic';
  private readonly logger = new Logger(PeriodicService.name);
  private readonly failing = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly broker: Broker,
    private readonly tasks: TasksService,
    private readonly config: AppConfig,
  ) {}

  /** PERIODIC_INTERVAL_MS. */
  get every(): number {
    return this.config.scheduler.periodicIntervalMs;
  }

  async runOnce(): Promise<PeriodicReport> {
    const report: { -readonly [K in keyof PeriodicReport]: PeriodicReport[K] } = { skipped: true, fired: 0, missed: 0, full: 0, raced: 0, errors: 0 };
    await runExclusive(this.db, JobKey.Periodic, this.config.scheduler.deadlineMs, this.logger, async (_session, deadline) => {
      report.skipped = false;
      for (const row of await new SchedulesGateway(this.db).due(DUE_PER_RUN)) {
        if (Date.now() > deadline) break;
        await this.fire(row, report);
      }
    });
    return report;
  }

  /** Fires one due schedule's slots and advances it, in one transaction. */
  private async fire(row: ScheduleRow & { now: Date }, report: PeriodicReport): Promise<void> {
    const cadence: Cadence = row.every_ms !== null ? { everyMs: Number(row.every_ms) } : { cron: row.cron!, tz: row.tz };
    const plan = planSlots(cadence, row.next_run, row.now, row.missed as MissedPolicy, this.config.scheduler.periodicGraceMs, SLOTS_PER_SCHEDULE);
    if (plan.missed) report.missed++;
    const requests = plan.fire.map((slot) => ({ func: row.func, args: { ...row.args, [SLOT_KEY]: slot.toISOString() }, collection: row.collection }));
    const lastRun = plan.fire.at(-1) ?? null;
    try {
      if (requests.length === 0) {
        if (!(await new SchedulesGateway(this.db).advanceIfAt(row.name, row.next_run, plan.next, null, null))) report.raced++;
        return;
      }
      await this.tasks.enqueueVia({ db: this.db, broker: this.broker }, requests, async (tx, handles) => {
        if (!(await new SchedulesGateway(tx).advanceIfAt(row.name, row.next_run, plan.next, lastRun, handles.at(-1)!.id))) throw new FiredElsewhere();
      });
      report.fired += requests.length;
      if (this.failing.delete(row.name)) this.logger.log(`schedule ${row.name} fires again`);
    } catch (err) {
      if (err instanceof FiredElsewhere) report.raced++;
      else if (err instanceof QueueFull) await this.skipFull(row, plan.next, lastRun, err, report);
      else {
        report.errors++;
        // Once per schedule until it fires again: a schedule of a func nobody knows would log every second.
        if (!this.failing.has(row.name)) this.logger.error(`schedule ${row.name} could not fire (it stays due): ${(err as Error).message}`);
        this.failing.add(row.name);
      }
    }
  }

  /** A full queue: the slots are skipped (the schedule moves on), and that is logged. */
  private async skipFull(row: ScheduleRow, next: Date, lastRun: Date | null, err: QueueFull, report: PeriodicReport): Promise<void> {
    report.full++;
    this.logger.warn(`schedule ${row.name}: slot(s) up to ${lastRun?.toISOString()} skipped: ${err.message}`);
    await new SchedulesGateway(this.db).advanceIfAt(row.name, row.next_run, next, null, null);
  }
}
