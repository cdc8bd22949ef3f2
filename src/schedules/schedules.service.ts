import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { Db } from '../database/db.js';
import type { Queryable } from '../database/queryable.js';
import type { SameTransaction } from '../tasks/executor.js';
import { FuncCatalog } from '../tasks/func-catalog.js';
import { TaskRegistry } from '../tasks/task-registry.js';
import { UnknownFunc } from '../tasks/tasks.errors.js';
import { type ScheduleDefinition, validSchedule, type ValidSchedule } from './schedule-definition.js';
import { nextSlot } from './schedule-slots.js';
import { ScheduleNotFound } from './schedules.errors.js';
import { type ScheduleRow, SchedulesGateway } from './schedules.gateway.js';

/** A schedule as the service and the API show it. */
export interface ScheduleView {
  name: string;
  func: string;
  args: Record<string, unknown>;
  collection: string;
  cron: string | null;
  tz: string | null;
  everyMs: number | null;
  missed: 'once' | 'skip';
  /** `handler`: declared with @TaskHandler; `api`: added at run time. */
  source: 'handler' | 'api';
  /** The next slot to fire. */
  nextRun: Date;
  /** The latest slot fired, and its task. */
  lastRun: Date | null;
  lastTaskId: string | null;
  created: Date;
  updated: Date;
}

/** Where a call runs: the engine's Db unless given (the api role passes a transaction on its own pool). */
export interface ScheduleCallOptions<R> {
  on?: Queryable;
  /** Run in the same transaction as the change (an audit row), when `on` is a transaction. */
  within?: SameTransaction<R>;
}

/**
 * Periodic schedules: those declared on handlers (`@TaskHandler(name, { schedule })`, recorded at
 * boot by every process with the worker or scheduler role, named after their func) and those added
 * and removed at run time. The scheduler role's periodic job fires them (maintenance/periodic).
 */
@Injectable()
export class SchedulesService implements OnApplicationBootstrap {
  private readonly logger = new Logger(SchedulesService.name);

  constructor(
    private readonly db: Db,
    private readonly catalog: FuncCatalog,
    private readonly registry: TaskRegistry,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.has('worker') || this.config.has('scheduler')) await this.recordDeclared();
  }

  /** Records the schedules this process's handlers declare (unchanged ones keep their next run); returns how many changed. */
  async recordDeclared(): Promise<number> {
    const declared = this.registry.all().filter((f) => f.schedule !== undefined);
    if (declared.length === 0) return 0;
    const gateway = new SchedulesGateway(this.db);
    const now = await gateway.now();
    let changed = 0;
    for (const f of declared) {
      let valid: ValidSchedule;
      try {
        valid = validSchedule({ ...f.schedule, name: f.name, func: f.name });
      } catch (err) {
        throw new Error(`${f.owner}: ${(err as Error).message}`, { cause: err });
      }
      if (await gateway.upsert(stored(valid, 'handler', now))) changed++;
    }
    if (changed > 0) this.logger.log(`recorded ${changed} declared schedule(s)`);
    return changed;
  }

  /**
   * Adds a schedule, or replaces the one of that name (its next run stays unless its cadence
   * changed). Throws InvalidSchedule (naming the field) or UnknownFunc; nothing is written then.
   */
  async add(definition: ScheduleDefinition, options: ScheduleCallOptions<ScheduleView> = {}): Promise<ScheduleView> {
    const valid = validSchedule(definition);
    if (!(await this.catalog.resolve(valid.func))) throw new UnknownFunc(valid.func);
    const work = async (q: Queryable) => {
      const gateway = new SchedulesGateway(q);
      await gateway.upsert(stored(valid, 'api', await gateway.now()));
      const view = toView((await gateway.byName(valid.name))!);
      await options.within?.(q, view);
      return view;
    };
    return options.on ? work(options.on) : this.db.transaction(work);
  }

  /** Removes a schedule (declared ones too: a process declaring it records it again at its next boot). Throws ScheduleNotFound. */
  async remove(name: string, options: ScheduleCallOptions<number> = {}): Promise<void> {
    const work = async (q: Queryable) => {
      if (!(await new SchedulesGateway(q).deleteByName(name))) throw new ScheduleNotFound(name);
      await options.within?.(q, 1);
    };
    await (options.on ? work(options.on) : this.db.transaction(work));
  }

  /** Every schedule, by name, with its next and last runs. */
  async list(on: Queryable = this.db): Promise<ScheduleView[]> {
    return (await new SchedulesGateway(on).list()).map(toView);
  }

  /** One schedule; throws ScheduleNotFound. */
  async get(name: string, on: Queryable = this.db): Promise<ScheduleView> {
    const row = await new SchedulesGateway(on).byName(name);
    if (!row) throw new ScheduleNotFound(name);
    return toView(row);
  }
}

function stored(s: ValidSchedule, source: 'handler' | 'api', now: Date) {
  const c = s.cadence;
  return {
    name: s.name,
    func: s.func,
    args: s.args,
    collection: s.collection,
    cron: c.cron ?? null,
    tz: c.tz ?? null,
    everyMs: c.everyMs ?? null,
    missed: s.missed,
    source,
    nextRun: nextSlot(c, now),
  };
}

/** A row as the API shows it. */
export function toView(r: ScheduleRow): ScheduleView {
  return {
    name: r.name,
    func: r.func,
    args: r.args,
    collection: r.collection,
    cron: r.cron,
    tz: r.tz,
    everyMs: r.every_ms === null ? null : Number(r.every_ms),
    missed: r.missed as ScheduleView['missed'],
    source: r.source as ScheduleView['source'],
    nextRun: r.next_run,
    lastRun: r.last_run,
    lastTaskId: r.last_task_id,
    created: r.created,
    updated: r.updated,
  };
}
