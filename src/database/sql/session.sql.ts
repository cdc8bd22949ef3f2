import type { Statement } from '../queryable.js';

/** Transaction control and the NOTIFY every publish on PostgreSQL sends. */
export const BEGIN: Statement = { text: 'BEGIN' };
export const COMMIT: Statement = { text: 'COMMIT' };
export const ROLLBACK: Statement = { text: 'ROLLBACK' };
export const NOTIFY: Statement = { name: 'laterz_notify', text: 'SELECT pg_notify($1, $2)' };
