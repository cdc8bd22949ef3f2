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

/** The audit log's statements: rows written through a caller's transaction, pages read on the Db it is given. */
export class AuditGateway {
  constructor(private readonly db: Db) {}

  async insert(tx: Queryable, entry: AuditEntry): Promise<void> {
    await tx.rows(INSERT_AUDIT, [entry.who, entry.action, JSON.stringify(entry.target), entry.count]);
  }

  /** Up to `limit` rows in id order after the id `after` (none: from the start), of `action` (none: any). */
  page(options: { limit: number; after?: string; order: 'asc' | 'desc'; action?: string }): Promise<AuditRow[]> {
    return this.db.rows<AuditRow>(AUDIT_PAGE[options.order], [options.after ?? null, options.action ?? null, options.limit]);
  }
}
