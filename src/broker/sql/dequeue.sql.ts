import type { Statement } from '../../tasks/sql/queryable.js';

/*
 * Takes the next queued tasks, highest priority first then oldest, skipping rows another worker
 * holds. Runs inside the claim's transaction: the row locks are the delivery, and the columns are
 * those of the claim's LOCK_DELIVERED, so the claim needs no second read. Served by
 * task_queued_idx (priority DESC, id) WHERE status = 'queued'.
 */
const dequeue = (filter: string) => `
    SELECT t.id::text AS id, t.collection, t.func, t.args, t.status::text AS status, t.version, t.attempt,
           t.size_bytes::bigint AS size_bytes,
           EXISTS (SELECT 1 FROM task_dependency d WHERE d.next_id = t.id) AS has_prev
      FROM task t
     WHERE t.status = 'queued'${filter}
     ORDER BY t.priority DESC, t.id
     LIMIT $1
       FOR UPDATE OF t SKIP LOCKED`;

export const DEQUEUE_ANY: Statement = { name: 'laterz_dequeue_any', text: dequeue('') };

/** The same, for a worker that serves only some funcs (WORKER_QUEUES). */
export const DEQUEUE_FUNCS: Statement = { name: 'laterz_dequeue_funcs', text: dequeue(' AND t.func = ANY($2::text[])') };

/** Queue depth of one func on the PostgreSQL transport: its queued rows. */
export const QUEUED_COUNT = {
  name: 'laterz_queued_count',
  text: `SELECT count(*)::int AS ready FROM task WHERE status = 'queued' AND func = $1`,
};
