import type { Db } from '../database/db.js';
import type { Queryable } from '../database/queryable.js';
import { AUDIT_PAGE, INSERT_AUDIT } from './sql/audit.sql.js';

/** What the admin API did: one row per mutation. */
export interface AuditEntry {
  /** `role:token-id` (a short hash of the token, never the token). */
  who: string;
  /** e.g. `task.retry`, `tasks.cancel`, `collection.update`. */
  action: string;
  /** A task id or the filter that selected the tasks (never task args). */
  target: Record<string, unknown>;
  /** Rows changed. */
  count: number;
}

export interface AuditRow extends AuditEntry {
  id: string;
  at: Date;
}

/** Writes and lists the audit log; reads on the Db it is given (the api role's). */
export class AuditService {
  constructor(private readonly db: Db) {}

  /** Records a mutation in the mutation's own transaction: both commit or neither. */
  async record(entry: AuditEntry, tx: Queryable): Promise<void> {
    await tx.rows(INSERT_AUDIT, [entry.who, entry.action, JSON.stringify(entry.target), entry.count]);
  }

  /** A page in id order (`desc`: newest first); `after` is the id of the last row of the previous page. */
  async list(options: { limit: number; after?: string; order: 'asc' | 'desc'; action?: string }): Promise<AuditRow[]> {
    return this.db.rows<AuditRow>(AUDIT_PAGE[options.order], [options.after ?? null, options.action ?? null, options.limit]);
  }
}
