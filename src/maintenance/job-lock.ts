import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';

/** Advisory lock keys of the cron jobs (two-int form, class 0x6c7a = "lz"; task locks use the bigint form). */
export enum JobKey {
  Dispatcher = 10,
  BulkRunner = 11,
  Stats = 12,
}
export const JOB_LOCK_CLASS = 0x6c7a;

export interface JobRun<T> {
  /** The session holding the job lock; the bulk runner also takes its tasks' advisory locks on it. */
  session: PoolClient;
  /** Epoch milliseconds after which the job takes no new work. */
  deadline: number;
  work: T;
}

/**
 * Runs `work` only if no other replica runs the same job: `pg_try_advisory_lock` on a session
 * of its own. A run that overlaps the previous one (or another replica's) is skipped.
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
    const { rows } = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [JOB_LOCK_CLASS, key]);
    if (!rows[0].locked) {
      logger.debug(`${JobKey[key]} is running elsewhere: skipped`);
      return undefined;
    }
    try {
      return await work(session, Date.now() + deadlineMs);
    } finally {
      // Every lock of this session: the job's, and any task lock a failed batch left behind (the
      // session goes back to the pool, where a leftover lock would hide a dead task forever).
      await session.query('SELECT pg_advisory_unlock_all()').catch((e: Error) => (broken = e));
    }
  } finally {
    // A session whose unlock failed may still hold the lock: destroy it rather than pool it.
    session.release(broken);
  }
}

/** Fisher-Yates: collections and funcs are visited in a new order each tick. */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
