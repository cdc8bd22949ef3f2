import type { Statement } from '../../database/queryable.js';

/** One audit row: $1 who, $2 action, $3 target (JSON text), $4 count. */
export const INSERT_AUDIT: Statement = {
  name: 'laterz_audit_insert',
  text: `INSERT INTO audit_log (who, action, target, count) VALUES ($1, $2, $3::jsonb, $4)`,
};

/**
 * A page of the audit log in id order, after the id $1 (none: from the start), of action $2 (none:
 * any), at most $3 rows. `audit_log.id` is qualified: a bare `id` in ORDER BY would sort the
 * `id::text` output column (9 after 10).
 */
const auditPage = (order: 'asc' | 'desc'): Statement => ({
  name: `laterz_audit_list_${order}`,
  text: `
    SELECT id::text AS id, who, action, target, count, at FROM audit_log
     WHERE ($1::bigint IS NULL OR audit_log.id ${order === 'asc' ? '>' : '<'} $1::bigint) AND ($2::text IS NULL OR action = $2)
     ORDER BY audit_log.id ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT $3`,
});

/** AUDIT_PAGE.asc: oldest first; AUDIT_PAGE.desc: newest first. */
export const AUDIT_PAGE: Readonly<Record<'asc' | 'desc', Statement>> = { asc: auditPage('asc'), desc: auditPage('desc') };
