import type { Queryable } from '../database/queryable.js';
import { REMOVE_IF_WAITING, RESCHEDULE_IF_WAITING, type RescheduledRow, WAITING_CHECK } from './sql/schedule.sql.js';
import type { TaskId } from './task-status.js';

export type { RescheduledRow };

/** reschedule and removeWaiting's statements, on `q`: a Db, or a transaction. */
export class ScheduleGateway {
  constructor(private readonly q: Queryable) {}

  /** Sets the time of a waiting task; undefined when it does not wait (or does not exist). */
  async rescheduleIfWaiting(id: TaskId, runAfter: Date): Promise<RescheduledRow | undefined> {
    const [row] = await this.q.rows<RescheduledRow>(RESCHEDULE_IF_WAITING, [id, runAfter]);
    return row;
  }

  /** Deletes a waiting task nothing depends on; undefined when it was not deleted. */
  async removeIfWaiting(id: TaskId): Promise<{ id: string; collection: string; func: string } | undefined> {
    const [row] = await this.q.rows<{ id: string; collection: string; func: string }>(REMOVE_IF_WAITING, [id]);
    return row;
  }

  /** Status, time and dependents of a task (to say why it was refused); undefined: no such task. */
  async waitingCheck(id: TaskId): Promise<{ status: string; runAfter: Date | null; dependents: number } | undefined> {
    const [row] = await this.q.rows<{ status: string; runAfter: Date | null; dependents: number }>(WAITING_CHECK, [id]);
    return row;
  }
}
