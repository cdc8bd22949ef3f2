import { Logger } from '@nestjs/common';
import type { Db } from '../database/db.js';
import type { Queryable } from '../database/queryable.js';
import { JobLockGateway } from './job-lock.gateway.js';

/** Advisory lock keys of the maintenance jobs (two-int form, class 0x6c7a = "lz"; task locks use the bigint form). */
export enum JobKey {
  Dispatcher = 10,
  BulkRunner = 11,
  Stats = 12,
  Periodic = 13,
  Expiry = 14,
}
export const JOB_LOCK_CLASS = 0x6c7a;

/**
 * Runs `work` only if no other replica runs the same job: `pg_try_advisory_lock` on a session
 * of its own. A run that overlaps the previous one (or another replica's) is skipped: undefined.
 * `work` gets the session (the bulk runner takes its tasks' locks on it) and the epoch
 * milliseconds after which it takes no new work (now + `deadlineMs`: SYSTEM_TASK_DEADLINE_SECONDS).
 */
export async function runExclusive<T>(
  db: Db,
  key: JobKey,
  deadlineMs: number,
  logger: Logger,
  work: (session: Queryable, deadline: number) => Promise<T>,
): Promise<T | undefined> {
  return db.session(async (session) => {
    const locks = new JobLockGateway(session);
    if (!(await locks.tryJobLock(JOB_LOCK_CLASS, key))) {
      logger.debug(`${JobKey[key]} is running elsewhere: skipped`);
      return undefined;
    }
    try {
      return await work(session, Date.now() + deadlineMs);
    } finally {
      // A session whose unlock failed may still hold the lock: Db.session destroys it rather than pool it.
      await locks.unlockAll().catch(() => undefined);
    }
  });
}
