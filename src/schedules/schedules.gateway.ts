import type { Queryable } from '../database/queryable.js';
import {
  ADVANCE_IF_AT,
  DB_NOW,
  DELETE_SCHEDULE,
  DUE_SCHEDULES,
  LIST_SCHEDULES,
  SCHEDULE_BY_NAME,
  type ScheduleRow,
  UPSERT_SCHEDULE,
} from './sql/schedules.sql.js';

export type { ScheduleRow };

/** A schedule's definition as stored (schedules.service.ts validates it). */
export interface StoredSchedule {
  name: string;
  func: string;
  args: Record<string, unknown>;
  collection: string;
  cron: string | null;
  tz: string | null;
  everyMs: number | null;
  missed: string;
  source: 'handler' | 'api';
  nextRun: Date;
}

/** The statements on `schedule`, on whatever Queryable they are given (the engine's Db, the admin pool, a transaction). */
export class SchedulesGateway {
  constructor(private readonly q: Queryable) {}

  async now(): Promise<Date> {
    const [row] = await this.q.rows<{ now: Date }>(DB_NOW, []);
    return row.now;
  }

  /** Creates or replaces; true when something changed. */
  async upsert(s: StoredSchedule): Promise<boolean> {
    const rows = await this.q.rows(UPSERT_SCHEDULE, [s.name, s.func, JSON.stringify(s.args), s.collection, s.cron, s.tz, s.everyMs, s.missed, s.source, s.nextRun]);
    return rows.length > 0;
  }

  /** False when there was none of that name. */
  async deleteByName(name: string): Promise<boolean> {
    return (await this.q.rows(DELETE_SCHEDULE, [name])).length > 0;
  }

  list(): Promise<ScheduleRow[]> {
    return this.q.rows<ScheduleRow>(LIST_SCHEDULES, []);
  }

  async byName(name: string): Promise<ScheduleRow | undefined> {
    const [row] = await this.q.rows<ScheduleRow>(SCHEDULE_BY_NAME, [name]);
    return row;
  }

  /** Up to `limit` due schedules, oldest slot first, and the database's now. */
  due(limit: number): Promise<(ScheduleRow & { now: Date })[]> {
    return this.q.rows<ScheduleRow & { now: Date }>(DUE_SCHEDULES, [limit]);
  }

  /** Moves `name` to `next` if its next run is still `at`; false otherwise (fired elsewhere, or edited). */
  async advanceIfAt(name: string, at: Date, next: Date, lastRun: Date | null, lastTaskId: string | null): Promise<boolean> {
    return (await this.q.rows(ADVANCE_IF_AT, [name, at, next, lastRun, lastTaskId])).length > 0;
  }
}
