import type { Queryable } from '../database/queryable.js';
import { TRY_JOB_LOCK, TryJobLockRow, UNLOCK_ALL } from './sql/job-lock.sql.js';

/** The maintenance jobs' advisory locks, on the session a job's run holds (Db.session). */
export class JobLockGateway {
  constructor(private readonly session: Queryable) {}

  /** Takes the job's session lock (`lockClass`, `key`); false when another session holds it. */
  async tryJobLock(lockClass: number, key: number): Promise<boolean> {
    const [lock] = await this.session.rows<TryJobLockRow>(TRY_JOB_LOCK, [lockClass, key]);
    return lock.locked;
  }

  /** Releases every advisory lock of the session: the job's, and any task lock a failed batch left behind. */
  async unlockAll(): Promise<void> {
    await this.session.rows(UNLOCK_ALL, []);
  }
}
