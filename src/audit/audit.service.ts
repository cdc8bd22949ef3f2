import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { PG_POOL } from '../database/database.module.js';

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

/** Writes and lists the audit log. */
@Injectable()
export class AuditService {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Records a mutation; given the mutation's client, in its transaction (both commit or neither). */
  async record(entry: AuditEntry, client?: PoolClient): Promise<void> {
    await (client ?? this.pool).query({
      name: 'laterz_audit_insert',
      text: `INSERT INTO audit_log (who, action, target, count) VALUES ($1, $2, $3::jsonb, $4)`,
      values: [entry.who, entry.action, JSON.stringify(entry.target), entry.count],
    });
  }

  /**
   * A page in id order (`desc`: newest first); `after` is the id of the last row of the previous
   * page. `audit_log.id` is qualified: a bare `id` in ORDER BY would sort the `id::text` output
   * column (9 after 10).
   */
  async list(options: { limit: number; after?: string; order: 'asc' | 'desc'; action?: string }): Promise<AuditRow[]> {
    const { rows } = await this.pool.query<AuditRow>({
      name: `laterz_audit_list_${options.order}`,
      text: `
        SELECT id::text AS id, who, action, target, count, at FROM audit_log
         WHERE ($1::bigint IS NULL OR audit_log.id ${options.order === 'asc' ? '>' : '<'} $1::bigint) AND ($2::text IS NULL OR action = $2)
         ORDER BY audit_log.id ${options.order === 'asc' ? 'ASC' : 'DESC'} LIMIT $3`,
      values: [options.after ?? null, options.action ?? null, options.limit],
    });
    return rows;
  }
}
