import type { Statement } from '../../../database/queryable.js';

/**
 * Waiting tasks past their deadline (expiresAt) become broken / expired, up to $1 of them, oldest
 * deadline first, on task_expires_idx; rows a claim holds are skipped (the claim expires them itself).
 */
export const EXPIRE_WAITING: Statement = {
  name: 'laterz_expire_waiting',
  text: `
    UPDATE task SET status = 'broken', broken_reason = 'expired', error = 'not started by its deadline (expiresAt)',
           date_finished = now(), date_modified = now()
     WHERE id IN (SELECT id FROM task
                   WHERE expires_at IS NOT NULL AND expires_at <= now() AND status IN ('pending', 'queued', 'deferred', 'error')
                   ORDER BY expires_at LIMIT $1
                     FOR UPDATE SKIP LOCKED)
    RETURNING id::text AS id, collection, func, attempt, fail_count`,
};
