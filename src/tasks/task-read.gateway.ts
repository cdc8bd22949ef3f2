import type { Queryable } from '../database/queryable.js';
import { TASK_STATE_BY_ID, type TaskStateRow } from './sql/task-read.sql.js';
import type { TaskId } from './task-status.js';

export type { TaskStateRow };

/** Reads of one task for the enqueue API's callers, on `q` (laterz's Db). */
export class TaskReadGateway {
  constructor(private readonly q: Queryable) {}

  /** The task's status and outcome; undefined when there is no such task. */
  async stateById(id: TaskId): Promise<TaskStateRow | undefined> {
    const [row] = await this.q.rows<TaskStateRow>(TASK_STATE_BY_ID, [id]);
    return row;
  }
}
