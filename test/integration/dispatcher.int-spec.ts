import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import type { CollectionEntity } from '../../src/collections/collection.entity.js';
import { CollectionsService } from '../../src/collections/collections.service.js';
import { DispatcherService, DispatchReport, emptyDispatchReport } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { DueScanService } from '../../src/maintenance/due/due-scan.service.js';
import type { BulkTask } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TaskRegistry } from '../../src/tasks/task-registry.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { clearTasks, holdTaskLocks, idsWithStatus, insertDetailedTasks, many, serveElsewhere, taskRow } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { ServiceProcess, startWorkerProcess, stopIfRunning, workerProcessFuncs } from '../helpers/service-process.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

/**
 * Funcs the dispatcher visits; nothing runs them here (ROLES=scheduler: no worker). The dispatcher
 * queues only funcs a live server runs: each app below records one elsewhere (serveElsewhere).
 */
@Injectable()
class DispatchHandlers {
  @TaskHandler('d.work')
  work() {
    return null;
  }

  @TaskHandler('d.versioned', { version: 2 })
  versioned() {
    return null;
  }

  @TaskHandler('d.walk', { resync: '10m' })
  walk() {
    return null;
  }

  @TaskHandler('d.bulk', { bulk: true })
  bulk(batch: BulkTask[]) {
    return new Map(batch.map((t) => [t.id, true]));
  }
}

const LIMIT = 10;
const ENV = {
  ROLES: 'scheduler',
  DISPATCH_MIN_AGE_SECONDS: '0',
  DISPATCH_QUEUE_LIMIT: String(LIMIT),
  DISPATCH_MIN_QUEUE_SIZE: '5',
  DISPATCH_MAX_QUEUE_SIZE: '20',
  // Tiers in minutes:fail_limit, small so factory ages reach them: 1 min / 2, 10 min / 4, 100 min / 6.
  RETRY_TIERS: '1:2,10:4,100:6',
  DEAD_TASK_AFTER_SECONDS: '60',
  COLLECTIONS: 'synced:sync,paused:noprocess',
} as const;

const sorted = (ids: string[]) => [...ids].sort((a, b) => Number(a) - Number(b));

/** What a worker does to queued rows, as far as the dispatcher can tell: they leave the queue. */
async function consumeQueued(db: Pool): Promise<void> {
  await db.query(`DELETE FROM task WHERE status = 'queued'`);
}

/** Advisory locks on task ids (bigint form) and the backend holding each. */
async function taskLocks(db: Pool, ids: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ id: string; pid: number }>(
    `SELECT l.objid::bigint::text AS id, l.pid FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.objid::bigint = ANY($1::bigint[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.pid]));
}

describe('dispatcher: the branches of dispatchFor on factory rows', () => {
  let app: TestApp;
  let dispatcher: DispatcherService;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [DispatchHandlers], env: ENV });
    await serveElsewhere(app.db, app.get(TaskRegistry).all().filter((f) => !f.bulk));
    dispatcher = app.get(DispatcherService);
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(async () => {
    await clearTasks(app.db);
  });

  const collection = async (name: string): Promise<CollectionEntity> => {
    const row = await app.get(CollectionsService).get(name);
    if (!row) throw new Error(`no collection ${name}`);
    return row;
  };
  /** One dispatchFor call; returns its report. */
  const dispatch = async (func: string, collectionName = 'default'): Promise<DispatchReport> => {
    const report = emptyDispatchReport();
    await dispatcher.dispatchFor(await collection(collectionName), app.get(TaskRegistry).get(func)!, report);
    return report;
  };
  const queued = () => idsWithStatus(app.db, 'queued');

  it('queues pending tasks newest first, one batch of DISPATCH_QUEUE_LIMIT', async () => {
    // Ages 1..25 s: index 0 is the newest.
    const ids = await insertDetailedTasks(app.db, many(25, { func: 'd.work' }, (i) => ({ modifiedAgo: i + 1 })));
    const report = await dispatch('d.work');
    expect(report.queued).toEqual({ pending: LIMIT, deferred: 0, outdated: 0, resync: 0, retry: 0 });
    // 15 left is not more than 3 batches: only the newest end is queued.
    expect(await queued()).toEqual(sorted(ids.slice(0, LIMIT)));
    expect(await idsWithStatus(app.db, 'pending')).toEqual(sorted(ids.slice(LIMIT)));
  });

  it('also queues the oldest end when the pending backlog is more than 3 batches', async () => {
    const ids = await insertDetailedTasks(app.db, many(6 * LIMIT, { func: 'd.work' }, (i) => ({ modifiedAgo: i + 1 })));
    const report = await dispatch('d.work');
    expect(report.queued.pending).toBe(2 * LIMIT);
    expect(await queued()).toEqual(sorted([...ids.slice(0, LIMIT), ...ids.slice(-LIMIT)]));
    expect((await idsWithStatus(app.db, 'pending')).length).toBe(4 * LIMIT);
  });

  it('leaves pending tasks with a run_after to the due scan, which queues the due one only', async () => {
    const [later, now, plain] = await insertDetailedTasks(app.db, [
      { func: 'd.work', modifiedAgo: 5, runAfterIn: 3600 },
      { func: 'd.work', modifiedAgo: 5, runAfterIn: -1 },
      { func: 'd.work', modifiedAgo: 5 },
    ]);
    await dispatch('d.work');
    expect(await queued()).toEqual([plain]);
    expect(await app.get(DueScanService).runOnce()).toMatchObject({ queued: 1 });
    expect(await queued()).toEqual(sorted([now, plain]));
    expect((await taskRow(app.db, later)).status).toBe('pending');
  });

  it('queues deferred tasks oldest first', async () => {
    const ids = await insertDetailedTasks(app.db, many(15, { func: 'd.work', status: 'deferred' }, (i) => ({ modifiedAgo: 100 - i })));
    const report = await dispatch('d.work');
    expect(report.queued).toEqual({ pending: 0, deferred: LIMIT, outdated: 0, resync: 0, retry: 0 });
    expect(await queued()).toEqual(sorted(ids.slice(0, LIMIT)));
  });

  it('re-runs tasks finished at an older version, with their fail count reset', async () => {
    const [oldOk, oldBroken, current, newer, oldError] = await insertDetailedTasks(app.db, [
      { func: 'd.versioned', status: 'success', version: 1, failCount: 2, finishedAgo: 50 },
      { func: 'd.versioned', status: 'broken', version: 0, failCount: 1, brokenReason: 'corrupt_input', error: 'bad file', finishedAgo: 50 },
      { func: 'd.versioned', status: 'success', version: 2, finishedAgo: 50 },
      { func: 'd.versioned', status: 'success', version: 3, finishedAgo: 50 },
      // Not finished: the retry tiers handle errors, not the outdated branch.
      { func: 'd.versioned', status: 'error', version: 1, failCount: 1, modifiedAgo: 5 },
    ]);
    const report = await dispatch('d.versioned');
    expect(report.queued).toEqual({ pending: 0, deferred: 0, outdated: 2, resync: 0, retry: 0 });
    expect(await queued()).toEqual(sorted([oldOk, oldBroken]));
    for (const id of [oldOk, oldBroken]) expect(await taskRow(app.db, id)).toMatchObject({ fail_count: 0, error: '', broken_reason: '' });
    expect((await taskRow(app.db, current)).status).toBe('success');
    expect((await taskRow(app.db, newer)).status).toBe('success');
    expect((await taskRow(app.db, oldError)).status).toBe('error');
  });

  it('re-runs successful tasks of a resync func in a sync collection once they are older than its interval', async () => {
    const [stale, fresh, brokenStale, plainStale, unsyncedStale] = await insertDetailedTasks(app.db, [
      { collection: 'synced', func: 'd.walk', status: 'success', finishedAgo: 3600, modifiedAgo: 3600 },
      { collection: 'synced', func: 'd.walk', status: 'success', finishedAgo: 60, modifiedAgo: 60 },
      { collection: 'synced', func: 'd.walk', status: 'broken', failCount: 9, finishedAgo: 3600, modifiedAgo: 3600 },
      // d.work has no resync interval; `default` is not a sync collection.
      { collection: 'synced', func: 'd.work', status: 'success', finishedAgo: 3600, modifiedAgo: 3600 },
      { collection: 'default', func: 'd.walk', status: 'success', finishedAgo: 3600, modifiedAgo: 3600 },
    ]);
    expect((await collection('synced')).sync).toBe(true);

    const report = await dispatch('d.walk', 'synced');
    expect(report.queued).toEqual({ pending: 0, deferred: 0, outdated: 0, resync: 1, retry: 0 });
    expect(await queued()).toEqual([stale]);

    await consumeQueued(app.db);
    expect((await dispatch('d.work', 'synced')).queued.resync).toBe(0);
    expect((await dispatch('d.walk', 'default')).queued.resync).toBe(0);
    expect(await queued()).toEqual([]);
    for (const id of [fresh, plainStale, unsyncedStale]) expect((await taskRow(app.db, id)).status).toBe('success');
    expect((await taskRow(app.db, brokenStale)).status).toBe('broken');
  });

  it('retries failed bulk tasks by the three tiers (back to pending, for the bulk runner): age and fail-count limits', async () => {
    const min = 60;
    const [t1Error, t1Broken, tooYoung, t2, t2TooYoung, t3, exhaustedT2, exhausted] = await insertDetailedTasks(app.db, [
      // Tier 1: older than 1 min, fewer than 2 fails.
      { func: 'd.bulk', status: 'error', failCount: 1, modifiedAgo: 2 * min, error: 'upstream said 503' },
      { func: 'd.bulk', status: 'broken', failCount: 0, modifiedAgo: 2 * min, brokenReason: 'task_killed', error: 'Task Killed' },
      { func: 'd.bulk', status: 'error', failCount: 1, modifiedAgo: 30 },
      // Tier 2: older than 10 min, fewer than 4 fails.
      { func: 'd.bulk', status: 'error', failCount: 3, modifiedAgo: 11 * min },
      { func: 'd.bulk', status: 'error', failCount: 2, modifiedAgo: 5 * min },
      // Tier 3: older than 100 min, fewer than 6 fails.
      { func: 'd.bulk', status: 'broken', failCount: 5, modifiedAgo: 101 * min, brokenReason: 'timeout' },
      { func: 'd.bulk', status: 'error', failCount: 4, modifiedAgo: 50 * min },
      // Out of tries.
      { func: 'd.bulk', status: 'error', failCount: 6, modifiedAgo: 1000 * min },
    ]);
    const pending = () => idsWithStatus(app.db, 'pending');

    // First found wins: one tier per call, in order. Bulk tasks are never queued.
    const first = await dispatch('d.bulk');
    expect(first.bulkRetried).toBe(2);
    expect(Object.values(first.queued)).toEqual([0, 0, 0, 0, 0]);
    expect(await pending()).toEqual(sorted([t1Error, t1Broken]));
    expect(await taskRow(app.db, t1Error)).toMatchObject({ fail_count: 1, error: '', broken_reason: '' });
    expect(await taskRow(app.db, t1Broken)).toMatchObject({ fail_count: 0, broken_reason: '' });

    expect((await dispatch('d.bulk')).bulkRetried).toBe(1);
    expect(await pending()).toEqual(sorted([t1Error, t1Broken, t2]));

    expect((await dispatch('d.bulk')).bulkRetried).toBe(1);
    expect(await pending()).toEqual(sorted([t1Error, t1Broken, t2, t3]));

    expect((await dispatch('d.bulk')).bulkRetried).toBe(0);
    expect(sorted(await idsWithStatus(app.db, 'error'))).toEqual(sorted([tooYoung, t2TooYoung, exhaustedT2, exhausted]));
    expect(await queued()).toEqual([]);
  });

  it("leaves other funcs' failures to their retry policy: the dispatcher never retries them, the due scan queues each at its run_after", async () => {
    const [due, later, none, killedDue] = await insertDetailedTasks(app.db, [
      { func: 'd.work', status: 'error', failCount: 1, modifiedAgo: 7200, runAfterIn: -1, error: 'upstream said 503' },
      { func: 'd.work', status: 'error', failCount: 1, modifiedAgo: 7200, runAfterIn: 3600 },
      // No retry left (no run_after): old enough for every tier, and still never retried.
      { func: 'd.work', status: 'error', failCount: 1, modifiedAgo: 7200 },
      { func: 'd.work', status: 'broken', failCount: 1, modifiedAgo: 7200, runAfterIn: -1, brokenReason: 'task_killed', error: 'Task Killed' },
    ]);
    const report = await dispatch('d.work');
    expect(report.queued).toEqual({ pending: 0, deferred: 0, outdated: 0, resync: 0, retry: 0 });
    expect(await queued()).toEqual([]);

    expect(await app.get(DueScanService).runOnce()).toMatchObject({ queued: 2, pended: 0 });
    expect(await queued()).toEqual(sorted([due, killedDue]));
    expect(await taskRow(app.db, due)).toMatchObject({ fail_count: 1, error: '', broken_reason: '' });
    expect(await taskRow(app.db, killedDue)).toMatchObject({ fail_count: 1, error: '', broken_reason: '' });
    for (const id of [later, none]) expect((await taskRow(app.db, id)).status).toBe('error');
  });

  it("leaves an operator's cancel alone: neither the outdated branch nor the tiers run a cancelled task again", async () => {
    const [outdated, failed] = await insertDetailedTasks(app.db, [
      { func: 'd.versioned', status: 'broken', version: 1, brokenReason: 'cancelled', finishedAgo: 7200, modifiedAgo: 7200 },
      { func: 'd.versioned', status: 'broken', version: 2, brokenReason: 'cancelled', failCount: 0, finishedAgo: 7200, modifiedAgo: 7200 },
    ]);
    expect(Object.values((await dispatch('d.versioned')).queued)).toEqual([0, 0, 0, 0, 0]);
    for (const id of [outdated, failed]) expect(await taskRow(app.db, id)).toMatchObject({ status: 'broken', broken_reason: 'cancelled' });
  });

  it('marks a dead started task broken/task_killed with an attempt row; leaves one whose advisory lock is held', async () => {
    const [dead, alive, young] = await insertDetailedTasks(app.db, [
      { func: 'd.work', status: 'started', attempt: 3, failCount: 1, modifiedAgo: 120, worker: 'gone-host:123' },
      { func: 'd.work', status: 'started', attempt: 1, modifiedAgo: 120, worker: 'live-host:456' },
      { func: 'd.work', status: 'started', attempt: 1, modifiedAgo: 10, worker: 'gone-host:123' },
    ]);
    const lock = await holdTaskLocks(app.db, [alive]);
    try {
      const report = await dispatch('d.work');
      expect(report.killed).toBe(1);
      expect(await taskRow(app.db, dead)).toMatchObject({
        status: 'broken',
        broken_reason: 'task_killed',
        fail_count: 2,
        attempt: 3,
        error: expect.stringContaining('Task Killed'),
      });
      expect((await taskRow(app.db, dead)).date_finished).not.toBeNull();
      const { rows: attempts } = await app.db.query('SELECT * FROM task_attempt WHERE task_id = $1', [dead]);
      expect(attempts).toEqual([
        expect.objectContaining({ attempt: 3, status: 'broken', broken_reason: 'task_killed', worker: 'gone-host:123' }),
      ]);
      // Held by a live session: running, whatever its age. Too young: not looked at yet.
      expect(await taskRow(app.db, alive)).toMatchObject({ status: 'started', fail_count: 0 });
      expect((await taskRow(app.db, young)).status).toBe('started');
      expect((await app.db.query('SELECT count(*)::int AS n FROM task_attempt WHERE task_id <> $1', [dead])).rows[0].n).toBe(0);

      // Killed just now: the first retry tier (1 min) takes it only later.
      expect((await dispatch('d.work')).killed).toBe(0);
      expect((await taskRow(app.db, dead)).status).toBe('broken');
    } finally {
      await lock.release();
    }
    // Lock released (the worker is gone): the next scan finds it.
    expect((await dispatch('d.work')).killed).toBe(1);
    expect(await taskRow(app.db, alive)).toMatchObject({ status: 'broken', broken_reason: 'task_killed', fail_count: 1 });
  });

  it('skips a func whose queue holds DISPATCH_MIN_QUEUE_SIZE messages or more', async () => {
    await insertDetailedTasks(app.db, many(5, { func: 'd.work', status: 'queued' }));
    await insertDetailedTasks(app.db, many(50, { func: 'd.work' }, (i) => ({ modifiedAgo: i + 1 })));
    const report = await dispatch('d.work');
    expect(report.pairsSkippedFullQueue).toBe(1);
    expect(report.queued.pending).toBe(0);
    expect((await queued()).length).toBe(5);
  });

  it('tops up a shallow queue, never past DISPATCH_MAX_QUEUE_SIZE', async () => {
    await insertDetailedTasks(app.db, many(4, { func: 'd.work', status: 'queued' }));
    const ids = await insertDetailedTasks(app.db, many(6 * LIMIT, { func: 'd.work' }, (i) => ({ modifiedAgo: i + 1 })));
    const report = await dispatch('d.work');
    // 4 in the queue: the newest batch of 10, then only 6 of the oldest end (20 at most in the queue).
    expect(report.queued.pending).toBe(LIMIT + 6);
    expect((await queued()).length).toBe(20);
    expect(sorted((await queued()).filter((id) => ids.includes(id)))).toEqual(sorted([...ids.slice(0, LIMIT), ...ids.slice(-6)]));
  });

  it('does not starve a collection when another one keeps the shared func queue non-empty', async () => {
    await insertDetailedTasks(app.db, many(3, { collection: 'synced', func: 'd.work', status: 'queued' }));
    const [few] = await insertDetailedTasks(app.db, [{ collection: 'default', func: 'd.work', modifiedAgo: 5 }]);
    expect((await dispatch('d.work')).queued.pending).toBe(1);
    expect((await taskRow(app.db, few)).status).toBe('queued');
  });

  it('first found wins: pending, then deferred, outdated, resync — one branch per call; a failure waits for the due scan', async () => {
    const [pending, deferred, outdated, resync, failed] = await insertDetailedTasks(app.db, [
      { collection: 'synced', func: 'd.walk', status: 'pending', modifiedAgo: 5 },
      { collection: 'synced', func: 'd.walk', status: 'deferred', modifiedAgo: 5 },
      { collection: 'synced', func: 'd.walk', status: 'success', version: -1, finishedAgo: 5, modifiedAgo: 5 },
      { collection: 'synced', func: 'd.walk', status: 'success', finishedAgo: 7200, modifiedAgo: 7200 },
      { collection: 'synced', func: 'd.walk', status: 'error', failCount: 1, modifiedAgo: 7200, runAfterIn: -1 },
    ]);
    const order: [keyof DispatchReport['queued'], string][] = [
      ['pending', pending],
      ['deferred', deferred],
      ['outdated', outdated],
      ['resync', resync],
    ];
    for (const [branch, id] of order) {
      const report = await dispatch('d.walk', 'synced');
      expect(report.queued).toEqual({ pending: 0, deferred: 0, outdated: 0, resync: 0, retry: 0, [branch]: 1 });
      expect(await queued()).toEqual([id]);
      await consumeQueued(app.db);
    }
    expect(Object.values((await dispatch('d.walk', 'synced')).queued)).toEqual([0, 0, 0, 0, 0]);
    expect((await taskRow(app.db, failed)).status).toBe('error');
    expect((await app.get(DueScanService).runOnce()).queued).toBe(1);
    expect(await queued()).toEqual([failed]);
  });

  it('runOnce visits every collection but the process=false one, and never queues bulk tasks', async () => {
    const [inDefault, inSynced] = await insertDetailedTasks(app.db, [
      { collection: 'default', func: 'd.work', modifiedAgo: 5 },
      { collection: 'synced', func: 'd.work', modifiedAgo: 5 },
    ]);
    const paused = await insertDetailedTasks(app.db, many(3, { collection: 'paused', func: 'd.work', modifiedAgo: 5 }));
    const [bulk] = await insertDetailedTasks(app.db, [{ collection: 'default', func: 'd.bulk', modifiedAgo: 5 }]);
    expect((await collection('paused')).process).toBe(false);

    const report = await dispatcher.runOnce();
    expect(report.skipped).toBe(false);
    expect(report.errors).toBe(0);
    expect(report.queued.pending).toBe(2);
    expect(await queued()).toEqual(sorted([inDefault, inSynced]));
    for (const id of [...paused, bulk]) expect((await taskRow(app.db, id)).status).toBe('pending');
    // Each processed collection (default, synced; not paused) × the four funcs (the bulk one only for dead tasks and tiers).
    const visited = (await app.get(CollectionsService).list()).filter((c) => c.process).length * 4;
    expect(report.pairsVisited).toBe(visited);
  });

  it('never queues more than DISPATCH_QUEUE_LIMIT per branch, whatever the backlog', async () => {
    await insertDetailedTasks(app.db, many(4 * LIMIT - 1, { func: 'd.work', status: 'deferred' }, (i) => ({ modifiedAgo: i + 1 })));
    await insertDetailedTasks(app.db, many(3 * LIMIT, { func: 'd.bulk', status: 'error', failCount: 1 }, (i) => ({ modifiedAgo: 3600 + i })));
    for (const expected of [LIMIT, LIMIT, LIMIT, LIMIT - 1]) {
      expect((await dispatch('d.work')).queued).toEqual({ pending: 0, deferred: expected, outdated: 0, resync: 0, retry: 0 });
      await consumeQueued(app.db);
    }
    // The retry tiers of a bulk func (the others' failures are the due scan's).
    for (const expected of [LIMIT, LIMIT, LIMIT, 0]) expect((await dispatch('d.bulk')).bulkRetried).toBe(expected);
  });
});

describe('dispatcher: the tick budget (DISPATCH_TICK_MAX_ROWS)', () => {
  const BUDGET = 12;
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [DispatchHandlers], env: { ...ENV, DISPATCH_TICK_MAX_ROWS: String(BUDGET) } });
    await serveElsewhere(app.db, app.get(TaskRegistry).all().filter((f) => !f.bulk));
  });
  afterAll(async () => {
    await app?.close();
  });

  it('changes at most the budget per tick: a quarter for dead tasks, the rest shared by the funcs; later ticks do the rest', async () => {
    const dead = await insertDetailedTasks(app.db, many(10, { func: 'd.work', status: 'started', attempt: 1, modifiedAgo: 120, worker: 'gone-host:1' }));
    const work = await insertDetailedTasks(app.db, many(20, { func: 'd.work' }, (i) => ({ modifiedAgo: i + 1 })));
    const versioned = await insertDetailedTasks(app.db, many(20, { func: 'd.versioned' }, (i) => ({ modifiedAgo: i + 1 })));
    const changedBy = async (ids: string[], status: string) => (await idsWithStatus(app.db, status)).filter((id) => ids.includes(id)).length;

    const first = await app.get(DispatcherService).runOnce();
    // 3 dead (a quarter of 12); the 9 left split over d.work and d.versioned: 5 for the first visited, 4 for the other.
    expect(first).toMatchObject({ killed: 3, errors: 0 });
    expect(first.queued.pending).toBe(BUDGET - 3);
    expect([await changedBy(work, 'queued'), await changedBy(versioned, 'queued')].sort()).toEqual([4, 5]);
    expect(await changedBy(dead, 'broken')).toBe(3);

    let ticks = 1;
    while ((await changedBy(dead, 'started')) + (await changedBy([...work, ...versioned], 'pending')) > 0) {
      await consumeQueued(app.db);
      const report = await app.get(DispatcherService).runOnce();
      expect(report.errors).toBe(0);
      expect(report.killed + report.queued.pending).toBeLessThanOrEqual(BUDGET);
      expect(report.killed + report.queued.pending).toBeGreaterThan(0);
      ticks++;
    }
    expect(await changedBy(dead, 'broken')).toBe(10);
    expect(ticks).toBeGreaterThanOrEqual(Math.ceil(50 / BUDGET));
  });
});

describe('dispatcher: a worker process SIGKILLed mid-task', () => {
  let app: TestApp;
  const workers: ServiceProcess[] = [];

  beforeAll(async () => {
    // Dead after 1 s without a lock; the default retry policy retries a killed task after about 1 s.
    app = await startTestApp({
      handlers: [workerProcessFuncs('k.hang')],
      env: { ROLES: 'scheduler', DISPATCH_MIN_AGE_SECONDS: '0', DEAD_TASK_AFTER_SECONDS: '1' },
    });
  });
  afterAll(async () => {
    for (const w of workers) await stopIfRunning(w);
    await app?.close();
  });

  const startWorker = () => {
    const proc = startWorkerProcess(app.url);
    workers.push(proc);
    return proc;
  };
  const lockHolder = (proc: ServiceProcess, id: string, what: string) =>
    waitFor(
      async () => {
        if (proc.hasExited()) throw new Error(`worker process exited early:\n${proc.stderr}\n${proc.stdout}`);
        const holder = (await taskLocks(app.db, [id])).get(id);
        // The claim takes the lock inside its statement, a moment before that statement commits.
        return holder !== undefined && (await taskRow(app.db, id)).status === 'started' ? holder : undefined;
      },
      what,
      // A worker process boots the whole service: slow when the suite's files run alongside.
      45000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- worker stderr\n${proc.stderr}\n--- worker stdout\n${proc.stdout.slice(-4000)}`);
    });

  it('is found dead once its lock is gone, marked task_killed, and retried by another worker', async () => {
    const first = startWorker();
    const t = await app.get(TasksService).enqueue('k.hang', { n: 1 });
    await lockHolder(first, t.id, `the worker process to take task ${t.id}`);
    const started = await taskRow(app.db, t.id);
    expect(started).toMatchObject({ status: 'started', attempt: 1 });

    // Older than DEAD_TASK_AFTER_SECONDS, but its worker holds the lock: left alone.
    await waitFor(async () => (await app.db.query(`SELECT date_modified < now() - interval '1.5 seconds' AS old FROM task WHERE id = $1`, [t.id])).rows[0].old, 'the started task to age');
    const whileAlive = await app.get(DispatcherService).runOnce();
    expect(whileAlive).toMatchObject({ skipped: false, killed: 0, errors: 0 });
    expect((await taskRow(app.db, t.id)).status).toBe('started');

    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    await waitFor(async () => (await taskLocks(app.db, [t.id])).size === 0, "the killed worker's lock to go", 5000);

    // Found dead; its retry policy (the default: task_killed retries, after about 1 s) sets its run_after.
    const report = await app.get(DispatcherService).runOnce();
    expect(report).toMatchObject({ killed: 1, errors: 0 });
    const killed = await taskRow(app.db, t.id);
    expect(killed).toMatchObject({ status: 'broken', broken_reason: 'task_killed', fail_count: 1, attempt: 1 });
    expect(killed.run_after).not.toBeNull();
    // The due scan queues it once that time has come.
    const due = app.get(DueScanService);
    await waitFor(async () => (await due.runOnce()).queued === 1, 'the due scan to queue the killed task', 10000);
    expect(await taskRow(app.db, t.id)).toMatchObject({ status: 'queued', fail_count: 1, attempt: 1, broken_reason: '' });
    const { rows: attempts } = await app.db.query('SELECT * FROM task_attempt WHERE task_id = $1', [t.id]);
    expect(attempts).toEqual([expect.objectContaining({ attempt: 1, status: 'broken', broken_reason: 'task_killed', worker: started.worker })]);

    // Another worker takes the retry: attempt 2, under its own lock.
    const second = startWorker();
    const holder = await lockHolder(second, t.id, `the second worker process to take task ${t.id}`);
    const retried = await taskRow(app.db, t.id);
    expect(retried).toMatchObject({ status: 'started', attempt: 2, fail_count: 1 });
    expect(retried.worker).not.toBe(started.worker);
    expect((await app.db.query('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [holder])).rows).toEqual([{ application_name: 'laterz-worker-session' }]);
    await stopIfRunning(second);
  }, 120000);
});
