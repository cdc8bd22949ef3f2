/**
 * Takes the next queued tasks, highest priority first then oldest, skipping rows another worker
 * holds. Runs inside the claim's transaction: the row locks are the delivery. Served by
 * task_queued_idx (priority DESC, id) WHERE status = 'queued'.
 */
export const DEQUEUE_ANY = {
  name: 'laterz_dequeue_any',
  text: `
    SELECT id::text AS "taskId", collection, func
      FROM task
     WHERE status = 'queued'
     ORDER BY priority DESC, id
     LIMIT $1
       FOR UPDATE SKIP LOCKED`,
};

/** The same, for a worker that serves only some funcs (WORKER_QUEUES). */
export const DEQUEUE_FUNCS = {
  name: 'laterz_dequeue_funcs',
  text: `
    SELECT id::text AS "taskId", collection, func
      FROM task
     WHERE status = 'queued' AND func = ANY($2::text[])
     ORDER BY priority DESC, id
     LIMIT $1
       FOR UPDATE SKIP LOCKED`,
};

export interface DequeuedRow {
  taskId: string;
  collection: string;
  func: string;
}

/** Queue depth of one func on the PostgreSQL transport: its queued rows. */
export const QUEUED_COUNT = {
  name: 'laterz_queued_count',
  text: `SELECT count(*)::int AS ready FROM task WHERE status = 'queued' AND func = $1`,
};
