import type { Statement } from '../../database/queryable.js';

/**
 * Which of the tasks running here were cancelled: after the LISTEN connection was lost, a cancel's
 * NOTIFY may have been missed, while its row says `broken`/`cancelled` all the same.
 */
export const CANCELLED_AMONG: Statement = {
  name: 'laterz_cancelled_among',
  text: `SELECT id::text AS id FROM task WHERE id = ANY($1::bigint[]) AND status = 'broken' AND broken_reason = 'cancelled'`,
};
