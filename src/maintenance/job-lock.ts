import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { pgQueryable } from '../database/queryable.js';
import { TRY_JOB_LOCK, TryJobLockRow, UNLOCK_ALL } from './sql/job-lock.sql.js';

/** Advisory lock keys of the maintenance jobs (two-int form, class 0x6c7a = "lz"; task locks use the bigint form). */
export enum JobKey {
  Dispatcher = 10,
  BulkRunner = 11,
  Stats = 12,
}
export const JOB_LOCK_CLASS = 0x6c7a;

/**
 * Runs `work` only if no other replica runs the same job: `pg_try_advisory_lock` on a session
 * of its own. A run that overlaps the previous one (or another replica's) is skipped: undefined.
 * `work` gets the session (the bulk runner takes its tasks' locks on it) and the epoch
 * milliseconds after which it takes no new work (now + `deadlineMs`: SYSTEM_TASK_DEADLINE_SECONDS).
 */
export async function runExclusive<T>(
  pool: Pool,
  key: JobKey,
  deadlineMs: number,
  logger: Logger,
  work: (session: PoolClient, deadline: number) => Promise<T>,
): Promise<T | undefined> {
  const session = await pool.connect();
  let broken: Error | undefined;
  try {
    const q = pgQueryable(session);
    const [lock] = await q.rows<TryJobLockRow>(TRY_JOB_LOCK, [JOB_LOCK_CLASS, key]);
    if (!lock.locked) {
      logger.debug(`${JobKey[key]} is running elsewhere: skipped`);
      return undefined;
    }
    try {
      return await work(session, Date.now() + deadlineMs);
    } finally {
      await q.rows(UNLOCK_ALL, []).catch((e: Error) => (broken = e));
    }
  } finally {
    // A session whose unlock failed may still hold the lock: destroy it rather than pool it.
    session.release(broken);
  }
}
