import type { Db } from '../database/db.js';
import { PING } from './sql/health.sql.js';
import { QUEUED_COUNT, QueuedCountRow } from './sql/dequeue.sql.js';

/** The PostgreSQL transport's reads: a func's queued rows, and whether the database answers. */
export class PostgresQueueGateway {
  constructor(private readonly db: Db) {}

  /** How many rows of `func` are `queued`: the depth of its queue. */
  async queuedCount(func: string): Promise<number> {
    const [row] = await this.db.rows<QueuedCountRow>(QUEUED_COUNT, [func]);
    return row.ready;
  }

  /** Resolves when the database answers a trivial statement; rejects with its error otherwise. */
  async ping(): Promise<void> {
    await this.db.rows(PING, []);
  }
}
