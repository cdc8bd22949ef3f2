import type { Db } from '../database/db.js';
import type { Queryable } from '../database/queryable.js';
import { type AuditEntry, AuditGateway, type AuditRow } from './audit.gateway.js';

export type { AuditEntry, AuditRow };

/** Writes and lists the audit log; reads on the Db it is given (the api role's). */
export class AuditService {
  private readonly log: AuditGateway;

  constructor(db: Db) {
    this.log = new AuditGateway(db);
  }

  /** Records a mutation in the mutation's own transaction: both commit or neither. */
  async record(entry: AuditEntry, tx: Queryable): Promise<void> {
    await this.log.insert(tx, entry);
  }

  /** A page in id order (`desc`: newest first); `after` is the id of the last row of the previous page. */
  list(options: { limit: number; after?: string; order: 'asc' | 'desc'; action?: string }): Promise<AuditRow[]> {
    return this.log.page(options);
  }
}
