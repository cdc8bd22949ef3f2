import { Injectable } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { PoolClient } from 'pg';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { JOB_LOCK_CLASS, JobKey } from '../../src/maintenance/job-lock.js';
import { StatsService } from '../../src/maintenance/stats/stats.service.js';
import { TaskMetrics } from '../../src/metrics/task-metrics.js';
import type { BulkTask } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { idsWithStatus, insertDetailedTasks, many } from '../factories/scheduler.factory.js';
import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

@Injectable()
class SchedulerHandlers {
  @TaskHandler('sch.work')
  work() {
    return null;
  }

  @TaskHandler('sch.bulk', { bulk: true })
  bulk(batch: BulkTask[]) {
    return new Map(batch.map((t) => [t.id, true]));
  }
}

interface Job {
  key: JobKey;
  run: (app: TestApp) => Promise<{ skipped: boolean }>;
}

const JOBS: Record<'dispatcher' | 'bulk runner' | 'stats', Job> = {
  dispatcher: { key: JobKey.Dispatcher, run: (app) => app.get(DispatcherService).runOnce() },
  'bulk runner': { key: JobKey.BulkRunner, run: (app) => app.get(BulkRunnerService).runOnce() },
  stats: { key: JobKey.Stats, run: (app) => app.get(StatsService).runOnce() },
};

/** Advisory locks of the cron jobs' class currently held, by job key. */
async function jobLocksHeld(app: TestApp): Promise<number[]> {
  const { rows } = await app.db.query<{ key: number }>(
    `SELECT objid::int AS key FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND classid = $1 AND objsubid = 2
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY 1`,
    [JOB_LOCK_CLASS],
  );
  return rows.map((r) => r.key);
}

describe('two schedulers on one database', () => {
  let db: { url: string; drop: () => Promise<void> };
  let one: TestApp;
  let two: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { ROLES: 'scheduler', DISPATCH_MIN_AGE_SECONDS: '0' } as const;
    [one, two] = await Promise.all([
      startTestApp({ handlers: [SchedulerHandlers], env, database: db }),
      startTestApp({ handlers: [SchedulerHandlers], env, database: db }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([one?.close(), two?.close()]);
    await db?.drop();
  });

  it('registers its jobs on their intervals', () => {
    for (const app of [one, two]) expect(app.get(SchedulerRegistry).getIntervals().sort()).toEqual(['bulk-runner', 'dispatcher', 'due-scan', 'expiry', 'periodic', 'stats']);
  });

  describe.each(Object.entries(JOBS))('%s', (_name, job) => {
    it('is skipped by both while another session holds its job lock, and runs once it is free', async () => {
      const holder = await one.db.connect();
      try {
        const { rows } = await holder.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [JOB_LOCK_CLASS, job.key]);
        expect(rows[0].locked).toBe(true);
        expect((await job.run(one)).skipped).toBe(true);
        expect((await job.run(two)).skipped).toBe(true);
        await holder.query('SELECT pg_advisory_unlock($1, $2)', [JOB_LOCK_CLASS, job.key]);
      } finally {
        holder.release();
      }
      expect((await job.run(one)).skipped).toBe(false);
      expect((await job.run(two)).skipped).toBe(false);
      expect(await jobLocksHeld(one)).toEqual([]);
    });

    it('runs in exactly one of two schedulers started at once', async () => {
      // Both start together; the one that wins the job lock stops at the collection table (held
      // here), so the other one's attempt certainly overlaps it.
      const blocker: PoolClient = await one.db.connect();
      let runs: Promise<{ skipped: boolean }>[] = [];
      try {
        await blocker.query('BEGIN');
        await blocker.query('LOCK TABLE collection IN ACCESS EXCLUSIVE MODE');
        runs = [job.run(one), job.run(two)];
        const settled: boolean[] = [];
        runs.forEach((r) => r.then((x) => settled.push(x.skipped)).catch(() => undefined));
        await waitFor(async () => settled.length >= 1, 'one of the two runs to give up');
        expect(settled).toEqual([true]);
        expect(await jobLocksHeld(one)).toEqual([job.key]);
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      const results = await Promise.all(runs);
      expect(results.map((r) => r.skipped).sort()).toEqual([false, true]);
      expect(await jobLocksHeld(one)).toEqual([]);
    });
  });

  it('the work of a tick is done once: two dispatchers and two bulk runners racing on the same rows', async () => {
    await insertDetailedTasks(one.db, many(30, { func: 'sch.work' }, (i) => ({ modifiedAgo: i + 1 })));
    await insertDetailedTasks(one.db, many(20, { func: 'sch.bulk' }));
    const [d1, d2, b1, b2] = await Promise.all([
      one.get(DispatcherService).runOnce(),
      two.get(DispatcherService).runOnce(),
      one.get(BulkRunnerService).runOnce(),
      two.get(BulkRunnerService).runOnce(),
    ]);
    const dispatched = [d1, d2].filter((r) => !r.skipped);
    const ranBulk = [b1, b2].filter((r) => !r.skipped);
    // Whichever ran (one of them, or both one after the other), no task was taken twice.
    expect(dispatched.reduce((n, r) => n + r.queued.pending, 0)).toBe((await idsWithStatus(one.db, 'queued')).length);
    expect(ranBulk.reduce((n, r) => n + r.ran, 0)).toBe(20);
    expect((await one.db.query(`SELECT max(attempt)::int AS a FROM task WHERE func = 'sch.bulk'`)).rows[0].a).toBe(1);
    expect((await idsWithStatus(one.db, 'success')).length).toBe(20);
  });
});

describe('the job-duration metric', () => {
  let app: TestApp;

  beforeAll(async () => {
    // The api role serves /metrics; the jobs run on their timers, every second.
    const env = { ROLES: 'api,scheduler', DISPATCH_INTERVAL_SECONDS: '1', BULK_INTERVAL_SECONDS: '1', STATS_INTERVAL_SECONDS: '1' } as const;
    app = await startTestApp({ handlers: [SchedulerHandlers], env });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('has a sample of each job once its timer has run it', async () => {
    const runs = async (job: string) => Number(new RegExp(`^laterz_job_duration_seconds_count\\{job="${job}"\\} (\\d+)$`, 'm').exec(await app.get(TaskMetrics).scrape())?.[1] ?? 0);
    for (const job of ['dispatcher', 'bulk-runner', 'stats']) await waitFor(async () => (await runs(job)) > 0, `a ${job} run in laterz_job_duration_seconds`);
  });
});
