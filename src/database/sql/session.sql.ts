import type { Statement } from '../queryable.js';

/** Transaction control and the NOTIFY every publish on PostgreSQL sends. */
export const BEGIN: Statement = { text: 'BEGIN' };
export const COMMIT: Statement = { text: 'COMMIT' };
export const ROLLBACK: Statement = { text: 'ROLLBACK' };
export const NOTIFY: Statement = { name: 'laterz_notify', text: 'SELECT pg_notify($1, $2)' };

/**
 * Whether a pg client is inside a transaction, for a client too old to tell (getTransactionStatus):
 * outside one, SAVEPOINT fails with 25P01 and changes nothing.
 */
export const PROBE_SAVEPOINT: Statement = { text: 'SAVEPOINT laterz_in_transaction' };
export const RELEASE_PROBE: Statement = { text: 'RELEASE SAVEPOINT laterz_in_transaction' };

/** Around a write into a caller's transaction that may be refused half-way (a cycle found after the inserts). */
export const SAVEPOINT_ENQUEUE: Statement = { text: 'SAVEPOINT laterz_enqueue' };
export const ROLLBACK_TO_ENQUEUE: Statement = { text: 'ROLLBACK TO SAVEPOINT laterz_enqueue' };
export const RELEASE_ENQUEUE: Statement = { text: 'RELEASE SAVEPOINT laterz_enqueue' };
