import type { Statement } from '../../database/queryable.js';

// The dequeue itself is the claim's statement (src/tasks/sql/claim-runnable.sql.ts, CLAIM_QUEUED):
// the row locks taken there are the delivery.

/** Queue depth of one func on the PostgreSQL transport: its queued rows. */
export const QUEUED_COUNT: Statement = {
  name: 'laterz_queued_count',
  text: `SELECT count(*)::int AS ready FROM task WHERE status = 'queued' AND func = $1`,
};

export interface QueuedCountRow {
  ready: number;
}
