import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { AfterBulk, BeforeBulk } from '../../src/maintenance/bulk/bulk-hooks.js';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { CollectionsService } from '../../src/collections/collections.service.js';
import { pgQueryable } from '../../src/database/queryable.js';
import { DispatcherService, emptyDispatchReport } from '../../src/maintenance/dispatch/dispatcher.service.js';
import type { BulkContext, BulkTask } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TaskRegistry } from '../../src/tasks/task-registry.js';
import { clearTasks, holdTaskLocks, idsWithStatus, insertDetailedTasks, insertEdges, many, taskRow } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

type Behaviour = 'ok' | 'partial' | 'throw' | 'not-a-map' | 'slow' | 'exit';

/** Every call of a bulk handler, in order, with the ids it got. */
const calls: { func: string; collection: string; ids: string[] }[] = [];
/** Hook calls and batches interleaved, in order: `before:c`, `batch:c`, `after:c`. */
const events: string[] = [];
let behaviour: Behaviour = 'ok';
let failBeforeHook = false;
/** Advisory locks on the batch's ids seen from inside the handler (`slow` only). */
let lockedDuringRun: string[] = [];
let lockProbe: (ids: string[]) => Promise<string[]> = async () => [];

@Injectable()
class BulkHandlers {
  @TaskHandler('b.index', { bulk: true })
  async index(batch: BulkTask[], ctx: BulkContext) {
    calls.push({ func: 'b.index', collection: ctx.collection, ids: batch.map((t) => t.id) });
    events.push(`batch:${ctx.collection}`);
    switch (behaviour) {
      case 'ok':
        return new Map(batch.map((t) => [t.id, true]));
      case 'partial':
        // First done, second reported as failed, the rest not mentioned at all.
        return new Map([
          [batch[0].id, true],
          [batch[1].id, false],
        ]);
      case 'throw':
        throw new Error('the search index is down');
      case 'not-a-map':
        return { [batch[0].id]: true } as unknown as Map<string, boolean>;
      case 'exit':
        await Promise.resolve();
        return process.exit(9);
      case 'slow':
        lockedDuringRun = await lockProbe(batch.map((t) => t.id));
        // Work that takes a measurable time, so its spread over the tasks can be checked.
        await new Promise((r) => setTimeout(r, 400));
        return new Map(batch.map((t) => [t.id, true]));
    }
  }

  @TaskHandler('b.versioned', { bulk: true, version: 1 })
  versioned(batch: BulkTask[], ctx: BulkContext) {
    calls.push({ func: 'b.versioned', collection: ctx.collection, ids: batch.map((t) => t.id) });
    return new Map(batch.map((t) => [t.id, true]));
  }

  /** Outlives its timeout, deaf to its signal, until the test opens its gate (issue 17: no overlap). */
  @TaskHandler('b.deaf', { bulk: true, timeout: '200ms' })
  async deaf(batch: BulkTask[]) {
    calls.push({ func: 'b.deaf', collection: 'default', ids: batch.map((t) => t.id) });
    if (calls.filter((c) => c.func === 'b.deaf').length === 1) await deafGate.promise;
    return new Map(batch.map((t) => [t.id, true]));
  }

  /** A parent of bulk tasks; run by nobody here (ROLES=scheduler). */
  @TaskHandler('b.parent', { version: 1 })
  parent() {
    return null;
  }

  @BeforeBulk()
  before(collection: string) {
    events.push(`before:${collection}`);
    if (failBeforeHook) throw new Error('cannot turn the index refresh off');
  }

  @AfterBulk()
  after(collection: string) {
    events.push(`after:${collection}`);
  }
}

let deafGate = gate();
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const MAX_TASKS = 5;
const OVERHEAD = 1000;

describe('bulk runner', () => {
  let app: TestApp;
  let bulk: BulkRunnerService;
  let session: PoolClient;

  beforeAll(async () => {
    app = await startTestApp({
      handlers: [BulkHandlers],
      env: {
        ROLES: 'scheduler',
        BULK_MAX_TASKS: String(MAX_TASKS),
        BULK_MAX_BYTES: '10000',
        BULK_TASK_OVERHEAD_BYTES: String(OVERHEAD),
        COLLECTIONS: 'other,paused:noprocess',
        DISPATCH_MIN_AGE_SECONDS: '0',
        DEAD_TASK_AFTER_SECONDS: '60',
        // Two tiers: a failure is retried after a minute, a second one after ten, a third never.
        RETRY_TIERS: '1:2,10:3',
        // A run that loops when it should stop fails on its counts, long before the test's timeout.
        SYSTEM_TASK_DEADLINE_SECONDS: '10',
      },
    });
    bulk = app.get(BulkRunnerService);
    session = await app.db.connect();
    lockProbe = async (ids) =>
      (
        await app.db.query<{ id: string }>(
          `SELECT objid::bigint::text AS id FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND classid = 0 AND objsubid = 1 AND pid = $2 AND objid::bigint = ANY($1::bigint[])
            ORDER BY objid`,
          [ids, (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid],
        )
      ).rows.map((r) => r.id);
  });
  afterAll(async () => {
    session?.release();
    await app?.close();
  });
  beforeEach(async () => {
    await clearTasks(app.db);
    calls.length = 0;
    events.length = 0;
    behaviour = 'ok';
    failBeforeHook = false;
  });

  const func = (name: string) => app.get(TaskRegistry).get(name)!;
  const batch = (collection = 'default', name = 'b.index') => bulk.runBatch(pgQueryable(session), collection, func(name));
  const row = (id: string) => taskRow(app.db, id);
  /** Moves the tasks' last change `minutes` back: time passing, without waiting for it. */
  const age = (ids: string[], minutes: number) =>
    app.db.query(`UPDATE task SET date_modified = now() - make_interval(mins => $2) WHERE id = ANY($1::bigint[])`, [ids, minutes]);
  /** What the scheduler role does at each tick: a dispatcher run (the retry tiers), then a bulk run. */
  const schedulerTick = async () => {
    await app.get(DispatcherService).runOnce();
    return bulk.runOnce();
  };

  it('takes at most BULK_MAX_TASKS per batch, oldest first, and marks them success at the current version', async () => {
    const ids = await insertDetailedTasks(app.db, many(12, { func: 'b.index' }, (i) => ({ modifiedAgo: 100 - i })));
    expect(await batch()).toMatchObject({ selected: 5, ran: 5, succeeded: 5, broken: 0, errored: 0, deferred: 0 });
    expect(await batch()).toMatchObject({ selected: 5, ran: 5, succeeded: 5 });
    expect(await batch()).toMatchObject({ selected: 2, ran: 2, succeeded: 2 });
    expect(await batch()).toMatchObject({ selected: 0, ran: 0 });
    expect(calls.map((c) => c.ids)).toEqual([ids.slice(0, 5), ids.slice(5, 10), ids.slice(10)]);
    for (const id of ids) {
      expect(await row(id)).toMatchObject({ status: 'success', version: 0, attempt: 1, fail_count: 0, error: '' });
      expect((await row(id)).date_finished).not.toBeNull();
    }
  });

  it('stops adding tasks at BULK_MAX_BYTES (size_bytes + overhead each)', async () => {
    // 3000 + 1000 overhead each: two make 8000, a third would pass 10000.
    const ids = await insertDetailedTasks(app.db, many(5, { func: 'b.index', sizeBytes: 3000 }, (i) => ({ modifiedAgo: 100 - i })));
    expect(await batch()).toMatchObject({ ran: 2, bytes: 6000 });
    expect(await batch()).toMatchObject({ ran: 2 });
    expect(await batch()).toMatchObject({ ran: 1 });
    expect(calls.map((c) => c.ids)).toEqual([ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)]);
    // One task larger than the whole limit still runs, alone.
    const [huge, small] = await insertDetailedTasks(app.db, [
      { func: 'b.index', sizeBytes: 50_000, modifiedAgo: 10 },
      { func: 'b.index', sizeBytes: 0, modifiedAgo: 5 },
    ]);
    expect(await batch()).toMatchObject({ ran: 1, bytes: 50_000 });
    expect(await batch()).toMatchObject({ ran: 1, bytes: 0 });
    expect(calls.slice(-2).map((c) => c.ids)).toEqual([[huge], [small]]);
  });

  it('defers tasks whose parents are not completed (at their current version), and runs them once they are', async () => {
    const [pendingParent, outdatedParent, brokenParent, okParent] = await insertDetailedTasks(app.db, [
      { func: 'b.parent', version: 1, status: 'pending' },
      { func: 'b.parent', version: 0, status: 'success', finishedAgo: 10 },
      { func: 'b.parent', version: 1, status: 'broken', finishedAgo: 10 },
      { func: 'b.parent', version: 1, status: 'success', finishedAgo: 10 },
    ]);
    const [waitsPending, waitsOutdated, afterBroken, afterOk, free] = await insertDetailedTasks(
      app.db,
      many(5, { func: 'b.index' }, (i) => ({ modifiedAgo: 100 - i })),
    );
    await insertEdges(app.db, [
      { prev: pendingParent, next: waitsPending, name: 'parent' },
      { prev: outdatedParent, next: waitsOutdated, name: 'parent' },
      { prev: brokenParent, next: afterBroken, name: 'parent' },
      { prev: okParent, next: afterOk, name: 'parent' },
      { prev: okParent, next: waitsPending, name: 'other' },
    ]);

    expect(await batch()).toMatchObject({ selected: 5, ran: 3, deferred: 2, succeeded: 3 });
    expect(calls.map((c) => c.ids)).toEqual([[afterBroken, afterOk, free]]);
    expect((await row(waitsPending)).status).toBe('deferred');
    expect((await row(waitsOutdated)).status).toBe('deferred');

    // Still waiting: deferred again, nothing runs.
    expect(await batch()).toMatchObject({ ran: 0, deferred: 2 });
    await app.db.query(`UPDATE task SET status = 'success', version = 1, date_finished = now() WHERE id = ANY($1::bigint[])`, [[pendingParent, outdatedParent]]);
    expect(await batch()).toMatchObject({ ran: 2, deferred: 0, succeeded: 2 });
    expect([...calls[calls.length - 1].ids].sort()).toEqual([waitsPending, waitsOutdated].sort());
  });

  it('marks the tasks the handler reports false, or leaves out, broken (bulk_item_failed) with attempt rows', async () => {
    behaviour = 'partial';
    const [done, reportedFalse, leftOut] = await insertDetailedTasks(app.db, many(3, { func: 'b.index' }, (i) => ({ modifiedAgo: 100 - i })));
    expect(await batch()).toMatchObject({ ran: 3, succeeded: 1, broken: 2, errored: 0 });
    expect(await row(done)).toMatchObject({ status: 'success', fail_count: 0, broken_reason: '' });
    for (const id of [reportedFalse, leftOut]) {
      expect(await row(id)).toMatchObject({ status: 'broken', broken_reason: 'bulk_item_failed', fail_count: 1, error: expect.stringContaining('did not report') });
    }
    const { rows } = await app.db.query('SELECT task_id::text AS id, attempt, status::text AS status, broken_reason FROM task_attempt ORDER BY task_id');
    expect(rows).toEqual([
      { id: reportedFalse, attempt: 1, status: 'broken', broken_reason: 'bulk_item_failed' },
      { id: leftOut, attempt: 1, status: 'broken', broken_reason: 'bulk_item_failed' },
    ]);
    // Broken at the current version is completed: not taken again.
    expect(await batch()).toMatchObject({ selected: 0, ran: 0 });
  });

  it('marks the whole batch error with the message when the handler throws, keeping the stack in the attempts', async () => {
    behaviour = 'throw';
    const ids = await insertDetailedTasks(app.db, many(3, { func: 'b.index' }));
    expect(await batch()).toMatchObject({ ran: 3, succeeded: 0, errored: 3 });
    for (const id of ids) expect(await row(id)).toMatchObject({ status: 'error', fail_count: 1, error: 'Error: the search index is down', broken_reason: '' });
    const { rows } = await app.db.query('SELECT task_id::text AS id, attempt, status::text AS status, error FROM task_attempt ORDER BY task_id');
    expect(rows.map((r) => r.id)).toEqual(ids);
    for (const r of rows) {
      expect(r).toMatchObject({ attempt: 1, status: 'error' });
      expect(r.error).toContain('the search index is down');
      expect(r.error).toContain('bulk.int-spec');
    }
    // Failed, not completed: the retry tiers decide when it runs again, not the next batch.
    behaviour = 'ok';
    expect(await batch()).toMatchObject({ selected: 0, ran: 0 });
    await age(ids, 2);
    expect(await schedulerTick()).toMatchObject({ ran: 3, succeeded: 3 });
    for (const id of ids) expect(await row(id)).toMatchObject({ status: 'success', attempt: 2, fail_count: 1, error: '' });
  });

  it('retries a failing batch by the retry tiers only: not before its wait, again after it, never past the last tier', async () => {
    behaviour = 'throw';
    const ids = await insertDetailedTasks(app.db, many(3, { func: 'b.index' }));
    expect(await schedulerTick()).toMatchObject({ ran: 3, errored: 3 });
    // Within the first tier's minute: however often the scheduler runs, the handler is not called.
    for (let i = 0; i < 5; i++) expect(await schedulerTick()).toMatchObject({ ran: 0, errored: 0, errors: 0 });
    expect(calls).toHaveLength(1);

    await age(ids, 2);
    expect(await schedulerTick()).toMatchObject({ ran: 3, errored: 3 });
    expect(calls).toHaveLength(2);
    // Two failures: the first tier (under 2) no longer applies, the second waits ten minutes.
    await age(ids, 2);
    expect(await schedulerTick()).toMatchObject({ ran: 0 });
    await age(ids, 11);
    expect(await schedulerTick()).toMatchObject({ ran: 3, errored: 3 });
    expect(calls).toHaveLength(3);

    // Three failures: past the last tier (under 3), however long it waits.
    await age(ids, 60 * 24 * 365);
    for (let i = 0; i < 3; i++) expect(await schedulerTick()).toMatchObject({ ran: 0 });
    expect(calls).toHaveLength(3);
    for (const id of ids) expect(await row(id)).toMatchObject({ status: 'error', fail_count: 3, attempt: 3, error: 'Error: the search index is down' });
  });

  it('fails the batch, not the scheduler, when the handler calls process.exit (the handler guard)', async () => {
    behaviour = 'exit';
    const ids = await insertDetailedTasks(app.db, many(2, { func: 'b.index' }));
    expect(await batch()).toMatchObject({ ran: 2, succeeded: 0, errored: 2 });
    for (const id of ids) expect(await row(id)).toMatchObject({ status: 'error', fail_count: 1, error: 'HandlerExitCalled: handler called process.exit(9)' });
    behaviour = 'ok';
    await age(ids, 2);
    expect(await schedulerTick()).toMatchObject({ ran: 2, succeeded: 2 });
  });

  it('a batch that outlived its timeout keeps its locks until its handler returns: its retry waits (no overlap)', async () => {
    deafGate = gate();
    const ids = await insertDetailedTasks(app.db, many(2, { func: 'b.deaf' }));
    const first = batch('default', 'b.deaf');
    await waitFor(async () => (await Promise.all(ids.map(row))).every((r) => r.status === 'error' && r.error === 'TaskTimeout: timed out after 0.2s'), 'the timeout to be recorded');
    // The handler runs on: the batch's locks stay held, so a retry that is due finds the tasks busy.
    expect(await lockProbe(ids)).toEqual(ids);
    await age(ids, 2);
    expect(await schedulerTick()).toMatchObject({ ran: 0 });
    expect(calls.filter((c) => c.func === 'b.deaf')).toHaveLength(1);
    // Once it has returned, the batch's run ends and releases the locks; the retry runs.
    deafGate.open();
    expect(await first).toMatchObject({ ran: 2, errored: 2 });
    expect(await lockProbe(ids)).toEqual([]);
    await age(ids, 2);
    expect(await schedulerTick()).toMatchObject({ ran: 2, succeeded: 2 });
    expect(calls.filter((c) => c.func === 'b.deaf')).toHaveLength(2);
  });

  it('fails the batch with an error naming the handler when it returns something other than a Map', async () => {
    behaviour = 'not-a-map';
    const ids = await insertDetailedTasks(app.db, many(2, { func: 'b.index' }));
    expect(await batch()).toMatchObject({ ran: 2, errored: 2 });
    for (const id of ids) {
      const r = await row(id);
      expect(r.status).toBe('error');
      expect(r.error).toContain('BulkHandlers.index');
      expect(r.error).toContain('b.index');
      expect(r.error).toContain('Map<TaskId, boolean>');
      expect(r.error).toContain('got an object (Object)');
    }
  });

  it('spreads the batch time over its tasks by size, holding their advisory locks while it runs', async () => {
    behaviour = 'slow';
    // With the 1000-byte overhead: 1000, 2000 and 4000 bytes, so shares of 1/7, 2/7 and 4/7.
    const ids = await insertDetailedTasks(app.db, [0, 1000, 3000].map((sizeBytes, i) => ({ func: 'b.index', sizeBytes, modifiedAgo: 100 - i })));
    expect(await batch()).toMatchObject({ ran: 3, succeeded: 3 });
    expect(lockedDuringRun).toEqual(ids);
    expect(await lockProbe(ids)).toEqual([]);
    const { rows } = await app.db.query<{ id: string; secs: number; same_end: boolean }>(
      `SELECT id::text AS id, extract(epoch FROM date_finished - date_started)::float8 AS secs,
              date_finished = max(date_finished) OVER () AS same_end
         FROM task WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [ids],
    );
    const [a, b, c] = rows.map((r) => r.secs);
    expect(rows.every((r) => r.same_end)).toBe(true);
    expect(a + b + c).toBeGreaterThanOrEqual(0.39);
    expect(b / a).toBeCloseTo(2, 2);
    expect(c / a).toBeCloseTo(4, 2);
  });

  it('re-runs bulk tasks completed at an older version; leaves current ones', async () => {
    const [oldOk, oldBroken, currentOk, currentBroken, started] = await insertDetailedTasks(app.db, [
      { func: 'b.versioned', status: 'success', version: 0, failCount: 1, finishedAgo: 60 },
      { func: 'b.versioned', status: 'broken', version: 0, failCount: 1, finishedAgo: 60 },
      { func: 'b.versioned', status: 'success', version: 1, finishedAgo: 60 },
      { func: 'b.versioned', status: 'broken', version: 1, finishedAgo: 60 },
      { func: 'b.versioned', status: 'started', version: 0, modifiedAgo: 1 },
    ]);
    expect(await batch('default', 'b.versioned')).toMatchObject({ selected: 2, ran: 2, succeeded: 2 });
    expect(calls.map((c) => [...c.ids].sort())).toEqual([[oldOk, oldBroken].sort()]);
    for (const id of [oldOk, oldBroken]) expect(await row(id)).toMatchObject({ status: 'success', version: 1 });
    expect(await row(currentOk)).toMatchObject({ status: 'success', attempt: 0 });
    expect(await row(currentBroken)).toMatchObject({ status: 'broken', attempt: 0 });
    expect(await row(started)).toMatchObject({ status: 'started', version: 0 });
  });

  it('sends the children of completed bulk tasks on: a plain child queued, a bulk child pending', async () => {
    const [parent] = await insertDetailedTasks(app.db, [{ func: 'b.index', modifiedAgo: 10 }]);
    const [plainChild, bulkChild] = await insertDetailedTasks(app.db, [
      { func: 'b.parent', version: 1, status: 'deferred', modifiedAgo: 5 },
      { func: 'b.versioned', status: 'deferred', modifiedAgo: 5 },
    ]);
    await insertEdges(app.db, [
      { prev: parent, next: plainChild, name: 'indexed' },
      { prev: parent, next: bulkChild, name: 'indexed' },
    ]);
    expect(await batch()).toMatchObject({ ran: 1, succeeded: 1 });
    expect((await row(plainChild)).status).toBe('queued');
    expect((await row(bulkChild)).status).toBe('pending');
    // The bulk child's parent is completed now: the next batch of its func runs it.
    expect(await batch('default', 'b.versioned')).toMatchObject({ ran: 1, succeeded: 1 });
  });

  it('leaves a candidate whose advisory lock another session holds, and releases its own locks after the batch', async () => {
    const ids = await insertDetailedTasks(app.db, many(3, { func: 'b.index' }, (i) => ({ modifiedAgo: 100 - i })));
    const held = await holdTaskLocks(app.db, [ids[1]]);
    try {
      expect(await batch()).toMatchObject({ selected: 3, ran: 2, succeeded: 2 });
      expect(calls.map((c) => c.ids)).toEqual([[ids[0], ids[2]]]);
      expect((await row(ids[1])).status).toBe('pending');
    } finally {
      await held.release();
    }
    expect(await lockProbe(ids)).toEqual([]);
    expect(await batch()).toMatchObject({ ran: 1 });
  });

  it('runOnce: hooks once per collection around its batches; process=false collections untouched', async () => {
    const inDefault = await insertDetailedTasks(app.db, many(7, { func: 'b.index', collection: 'default' }));
    const versioned = await insertDetailedTasks(app.db, many(2, { func: 'b.versioned', collection: 'default' }));
    const inOther = await insertDetailedTasks(app.db, many(6, { func: 'b.index', collection: 'other' }));
    const paused = await insertDetailedTasks(app.db, many(3, { func: 'b.index', collection: 'paused' }));
    expect((await app.get(CollectionsService).get('paused'))?.process).toBe(false);

    const report = await bulk.runOnce();
    expect(report).toMatchObject({ skipped: false, ran: 15, succeeded: 15, errored: 0, errors: 0 });
    // default: b.index 5 + 2, b.versioned 2; other: 5 + 1.
    expect(report.batches).toBe(5);
    expect(await idsWithStatus(app.db, 'success')).toEqual([...inDefault, ...versioned, ...inOther]);
    expect(await idsWithStatus(app.db, 'pending')).toEqual(paused);

    for (const c of ['default', 'other']) {
      expect(events.filter((e) => e === `before:${c}`)).toHaveLength(1);
      expect(events.filter((e) => e === `after:${c}`)).toHaveLength(1);
      const mine = events.map((e, i) => [e, i] as const).filter(([e]) => e.endsWith(`:${c}`));
      expect(mine[0][0]).toBe(`before:${c}`);
      expect(mine[mine.length - 1][0]).toBe(`after:${c}`);
    }
    expect(events.some((e) => e.endsWith(':paused'))).toBe(false);

    // Nothing left to run: no hooks at all.
    events.length = 0;
    expect(await bulk.runOnce()).toMatchObject({ skipped: false, batches: 0, ran: 0 });
    expect(events).toEqual([]);
  });

  it('runOnce runs batch after batch, each finish beside the next start: every task once, all success, no lock left', async () => {
    const sorted = (list: string[]) => [...list].sort((x, y) => Number(x) - Number(y));
    const ids = await insertDetailedTasks(app.db, many(4 * MAX_TASKS + 3, { func: 'b.index' }, (i) => ({ modifiedAgo: 100 - i })));
    const report = await bulk.runOnce();
    expect(report).toMatchObject({ skipped: false, batches: 5, ran: ids.length, succeeded: ids.length, errored: 0, errors: 0 });
    const ran = calls.flatMap((c) => c.ids);
    expect(sorted(ran)).toEqual(sorted(ids));
    // Oldest first, batch after batch.
    expect(calls.map((c) => c.ids)).toEqual([0, 1, 2, 3, 4].map((b) => ids.slice(b * MAX_TASKS, (b + 1) * MAX_TASKS)));
    expect(await idsWithStatus(app.db, 'success')).toEqual(sorted(ids));
    const { rows } = await app.db.query<{ attempts: number[] }>('SELECT array_agg(DISTINCT attempt) AS attempts FROM task WHERE id = ANY($1::bigint[])', [ids]);
    expect(rows[0].attempts).toEqual([1]);
    const { rows: locks } = await app.db.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objsubid = 1 AND objid::bigint = ANY($1::bigint[])`,
      [ids],
    );
    expect(locks).toEqual([]);
  });

  it('runOnce stops a func after a failed batch, and after a batch of tasks that all wait, instead of looping', async () => {
    behaviour = 'throw';
    await insertDetailedTasks(app.db, many(12, { func: 'b.index' }, (i) => ({ modifiedAgo: 100 - i })));
    const failed = await bulk.runOnce();
    expect(failed).toMatchObject({ batches: 1, ran: 5, errored: 5 });
    expect(calls).toHaveLength(1);
    expect(events).toEqual(['before:default', 'batch:default', 'after:default']);

    await clearTasks(app.db);
    calls.length = 0;
    const [parent] = await insertDetailedTasks(app.db, [{ func: 'b.parent', version: 1 }]);
    const waiting = await insertDetailedTasks(app.db, many(12, { func: 'b.index' }));
    await insertEdges(app.db, waiting.map((next) => ({ prev: parent, next, name: 'parent' })));
    const waited = await bulk.runOnce();
    expect(waited).toMatchObject({ batches: 0, ran: 0, deferred: 5 });
    expect(calls).toHaveLength(0);
  });

  it('a failing @BeforeBulk hook fails the batch (tasks error, locks released) and the after hooks still run', async () => {
    failBeforeHook = true;
    const ids = await insertDetailedTasks(app.db, many(3, { func: 'b.index' }));
    const report = await bulk.runOnce();
    expect(report).toMatchObject({ ran: 3, errored: 3 });
    expect(calls).toHaveLength(0);
    expect(events).toEqual(['before:default', 'after:default']);
    for (const id of ids) expect(await row(id)).toMatchObject({ status: 'error', error: expect.stringContaining('@BeforeBulk hook failed') });
    const { rows } = await app.db.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid::bigint = ANY($1::bigint[])`, [ids]);
    expect(rows[0].n).toBe(0);
  });

  it('a batch whose scheduler died is found dead by the dispatcher and sent back to the bulk runner by the tiers', async () => {
    const [dead, failed] = await insertDetailedTasks(app.db, [
      { func: 'b.index', status: 'started', attempt: 1, modifiedAgo: 120, worker: 'gone:1:bulk' },
      { func: 'b.index', status: 'broken', failCount: 1, modifiedAgo: 120, brokenReason: 'bulk_item_failed' },
    ]);
    const dispatcher = app.get(DispatcherService);
    const defaultCollection = (await app.get(CollectionsService).get('default'))!;
    const report = emptyDispatchReport();
    await dispatcher.dispatchFor(defaultCollection, func('b.index'), report);
    // Killed now (too young for the 1-minute tier); the older failure goes back to pending, never queued.
    expect(report).toMatchObject({ killed: 1, bulkRetried: 1, queued: { pending: 0, deferred: 0, outdated: 0, resync: 0, retry: 0 } });
    expect(await row(dead)).toMatchObject({ status: 'broken', broken_reason: 'task_killed', fail_count: 1 });
    expect(await row(failed)).toMatchObject({ status: 'pending', broken_reason: '', fail_count: 1 });

    expect(await batch()).toMatchObject({ ran: 1, succeeded: 1 });
    expect(calls.map((c) => c.ids)).toEqual([[failed]]);
    // A minute later, the killed one goes back too.
    await app.db.query(`UPDATE task SET date_modified = now() - interval '2 minutes' WHERE id = $1`, [dead]);
    const later = emptyDispatchReport();
    await dispatcher.dispatchFor(defaultCollection, func('b.index'), later);
    expect(later.bulkRetried).toBe(1);
    expect(await batch()).toMatchObject({ ran: 1, succeeded: 1 });
    expect(await row(dead)).toMatchObject({ status: 'success', attempt: 2, fail_count: 1 });
  });
});
