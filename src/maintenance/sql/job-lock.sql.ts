import type { Statement } from '../../database/queryable.js';

/** Takes the job's advisory lock ($1 class, $2 job key) on the session, or says it is held elsewhere. */
export const TRY_JOB_LOCK: Statement = {
  name: 'laterz_try_job_lock',
  text: 'SELECT pg_try_advisory_lock($1, $2) AS locked',
};

export interface TryJobLockRow {
  locked: boolean;
}

/**
 * Releases every advisory lock of the session: the job's, and any task lock a failed batch left
 * behind (the session goes back to the pool, where a leftover lock would hide a dead task forever).
 */
export const UNLOCK_ALL: Statement = {
  name: 'laterz_unlock_all',
  text: 'SELECT pg_advisory_unlock_all()',
};
