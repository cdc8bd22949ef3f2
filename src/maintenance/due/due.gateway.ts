import { Injectable } from '@nestjs/common';
import { Db } from '../../database/db.js';
import { type DueRow, QUEUE_DUE } from './sql/due.sql.js';

export type { DueRow };

/** The due scan's statements, on the engine's pool. */
@Injectable()
export class DueGateway {
  constructor(private readonly db: Db) {}

  /** Queues up to `limit` rows whose time has come (bulk funcs' to pending); the rows changed. */
  queueDue(limit: number, bulkFuncs: readonly string[]): Promise<DueRow[]> {
    return this.db.rows<DueRow>(QUEUE_DUE, [limit, bulkFuncs]);
  }

}
