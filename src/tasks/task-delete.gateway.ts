import type { Queryable } from '../database/queryable.js';
import { COUNT_DEPENDENTS, DELETE_IF_NOT_STARTED, LOCK_BY_IDENTITY } from './sql/delete.sql.js';

/** Delete by identity's statements, in the caller's transaction. */
export class TaskDeleteGateway {
  constructor(private readonly tx: Queryable) {}

  /** The task of that identity, locked until the transaction ends; undefined when there is none. */
  async lockByIdentity(collection: string, func: string, hash: Buffer): Promise<{ id: string; status: string } | undefined> {
    const [row] = await this.tx.rows<{ id: string; status: string }>(LOCK_BY_IDENTITY, [collection, func, hash]);
    return row;
  }

  async countDependents(id: string): Promise<number> {
    const [row] = await this.tx.rows<{ n: number }>(COUNT_DEPENDENTS, [id]);
    return row.n;
  }

  /** False when it runs (started). */
  async deleteIfNotStarted(id: string): Promise<boolean> {
    return (await this.tx.rows(DELETE_IF_NOT_STARTED, [id])).length > 0;
  }
}
