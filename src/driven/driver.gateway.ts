import { Injectable } from '@nestjs/common';
import { Db } from '../database/db.js';
import {
  COUNT_BY_STATUS,
  FingerprintRow,
  STATUSES_BY_ID,
  StatusCountRow,
  StatusRow,
  TASK_BY_ID,
  TaskSnapshotRow,
  TASKS_FINGERPRINT,
  UNFINISHED_TASKS,
  UnfinishedRow,
} from './sql/driver.sql.js';

export type { TaskSnapshotRow, UnfinishedRow };

/** The work driver's reads of the task table (it writes nothing itself: the engine's services do). */
@Injectable()
export class DriverGateway {
  constructor(private readonly db: Db) {}

  /** Every task's status, attempt and fail count as one hash, and the runs started so far. */
  async fingerprint(): Promise<{ fingerprint: string; attempts: number }> {
    const [row] = await this.db.rows<FingerprintRow>(TASKS_FINGERPRINT, []);
    return { fingerprint: row.fingerprint, attempts: Number(row.attempts) };
  }

  async countsByStatus(): Promise<StatusCountRow[]> {
    return this.db.rows<StatusCountRow>(COUNT_BY_STATUS, []);
  }

  /** The status of each task of `ids`, by id (a task deleted meanwhile is missing). */
  async statusesOf(ids: string[]): Promise<Map<string, string>> {
    const rows = await this.db.rows<StatusRow>(STATUSES_BY_ID, [ids]);
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  async task(id: string): Promise<TaskSnapshotRow | undefined> {
    const [row] = await this.db.rows<TaskSnapshotRow>(TASK_BY_ID, [id]);
    return row;
  }

  /** Tasks neither success nor broken, oldest first, at most `limit`. */
  unfinished(limit: number): Promise<UnfinishedRow[]> {
    return this.db.rows<UnfinishedRow>(UNFINISHED_TASKS, [limit]);
  }
}
