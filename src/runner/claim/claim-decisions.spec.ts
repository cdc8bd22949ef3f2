import type { ClaimRow, LockedRow, ParentRow } from '../../tasks/claim.gateway.js';
import { BrokenReason, TaskStatus } from '../../tasks/task-status.js';
import { DependencyBroken } from '../../tasks/tasks.errors.js';
import { afterFastPath, isCompleted, parentsByChild, planClaim, rowsNeedingParents, startedTasks, toPublish } from './claim-decisions.js';

/** Funcs registered here: `f` at version 2, `g` at version 0; this worker claims both. */
const versions = new Map([
  ['f', 2],
  ['g', 0],
]);
const claims = new Set(['f', 'g']);

let nextId = 1;
function locked(over: Partial<LockedRow> = {}): LockedRow {
  return { id: String(nextId++), collection: 'c', func: 'f', args: { n: 1 }, status: TaskStatus.Pending, version: 2, attempt: 0, size_bytes: '12', fail_count: 0, retry: null, has_prev: false, ...over };
}
function fastRow(over: Partial<ClaimRow> = {}): ClaimRow {
  return { ...locked(), priority: 0, paused: false, busy: false, expired: false, started_attempt: null, parents: null, ...over };
}
function parent(child: LockedRow, over: Partial<ParentRow> = {}): ParentRow {
  return { next_id: child.id, name: 'p', id: String(nextId++), func: 'f', status: TaskStatus.Success, version: 2, result: { ok: true }, error: '', broken_reason: '', ...over };
}
const plan = (rows: LockedRow[], parents: ParentRow[] = [], claimed: ReadonlySet<string> = claims) => planClaim(rows, parentsByChild(parents), versions, claimed);

describe('isCompleted', () => {
  it('is success or broken at the func current version', () => {
    expect(isCompleted({ func: 'f', status: TaskStatus.Success, version: 2 }, versions)).toBe(true);
    expect(isCompleted({ func: 'f', status: TaskStatus.Broken, version: 2 }, versions)).toBe(true);
  });

  it('is not an outdated result, nor any unfinished status', () => {
    expect(isCompleted({ func: 'f', status: TaskStatus.Success, version: 1 }, versions)).toBe(false);
    for (const status of [TaskStatus.Pending, TaskStatus.Queued, TaskStatus.Started, TaskStatus.Deferred, TaskStatus.Error]) {
      expect(isCompleted({ func: 'f', status, version: 2 }, versions)).toBe(false);
    }
  });

  it('takes any version of a func this process does not serve', () => {
    expect(isCompleted({ func: 'elsewhere', status: TaskStatus.Success, version: 7 }, versions)).toBe(true);
    expect(isCompleted({ func: 'elsewhere', status: TaskStatus.Pending, version: 7 }, versions)).toBe(false);
  });
});

describe('afterFastPath', () => {
  it('runs the rows the statement started, with their attempt and their parents outcomes as deps', () => {
    const row = fastRow({
      started_attempt: 3,
      size_bytes: '40',
      has_prev: true,
      parents: [
        { name: 'text', status: TaskStatus.Success, result: 'hello', error: '', reason: '' },
        { name: 'ocr', status: TaskStatus.Broken, result: null, error: 'bad scan', reason: 'corrupt' },
      ],
    });
    const { started, unsettled } = afterFastPath([row], claims);
    expect(unsettled).toEqual([]);
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ id: row.id, collection: 'c', func: 'f', args: { n: 1 }, attempt: 3, sizeBytes: 40 });
    expect(started[0].deps.text).toBe('hello');
    expect(started[0].deps.ocr).toBeInstanceOf(DependencyBroken);
    expect(started[0].deps.ocr).toMatchObject({ dependency: 'ocr', reason: 'corrupt', parentError: 'bad scan' });
  });

  it('gives a started row without parents empty deps, and keeps a dependency named __proto__ as a plain key', () => {
    const [plain] = afterFastPath([fastRow({ started_attempt: 1 })], claims).started;
    expect(Object.keys(plain.deps)).toEqual([]);
    const [odd] = afterFastPath([fastRow({ started_attempt: 1, parents: [{ name: '__proto__', status: TaskStatus.Success, result: 5, error: '', reason: '' }] })], claims).started;
    expect(Object.keys(odd.deps)).toEqual(['__proto__']);
    expect(odd.deps['__proto__']).toBe(5);
  });

  it('leaves a paused row alone, queued or not (the statement handed a queued one back to pending)', () => {
    expect(afterFastPath([fastRow({ paused: true, status: TaskStatus.Queued }), fastRow({ paused: true, status: TaskStatus.Deferred })], claims)).toEqual({ started: [], unsettled: [], handBack: [] });
  });

  it('leaves a busy row alone, queued or not: an earlier attempt still holds its lock (the statement handed a queued one back to pending)', () => {
    expect(afterFastPath([fastRow({ busy: true, status: TaskStatus.Queued }), fastRow({ busy: true, status: TaskStatus.Pending })], claims)).toEqual({ started: [], unsettled: [], handBack: [] });
    // An expired row was broken by the statement itself: nothing more to do with it.
    expect(afterFastPath([fastRow({ expired: true, status: TaskStatus.Queued })], claims)).toEqual({ started: [], unsettled: [], handBack: [] });
  });

  it('leaves a running row and a failed one (waiting for its retry tier) alone', () => {
    expect(afterFastPath([fastRow({ status: TaskStatus.Started }), fastRow({ status: TaskStatus.Error })], claims)).toEqual({ started: [], unsettled: [], handBack: [] });
  });

  it('hands every other unstarted row to the transactional claim, in order', () => {
    const rows = [TaskStatus.Pending, TaskStatus.Queued, TaskStatus.Deferred, TaskStatus.Success, TaskStatus.Broken].map((status) => fastRow({ status }));
    expect(afterFastPath(rows, claims)).toEqual({ started: [], unsettled: rows.map((r) => r.id), handBack: [] });
  });

  it('leaves a row of a func this worker does not claim as it is, and hands a queued one back to its queue', () => {
    const queued = fastRow({ func: 'nobody', status: TaskStatus.Queued, priority: 4 });
    const pending = fastRow({ func: 'nobody', status: TaskStatus.Pending });
    const done = fastRow({ func: 'nobody', status: TaskStatus.Success });
    // `g` is registered here, but a newer version runs elsewhere: this worker does not claim it now.
    const superseded = fastRow({ func: 'g', status: TaskStatus.Queued, version: 0 });
    expect(afterFastPath([queued, pending, done, superseded], new Set(['f']))).toEqual({
      started: [],
      unsettled: [],
      handBack: [
        { collection: 'c', taskId: queued.id, func: 'nobody', priority: 4 },
        { collection: 'c', taskId: superseded.id, func: 'g', priority: 0 },
      ],
    });
  });
});

describe('rowsNeedingParents', () => {
  it('asks for the parents of candidates that have any, and of no other row', () => {
    const candidate = locked({ has_prev: true });
    const orphan = locked({ has_prev: false });
    const completed = locked({ has_prev: true, status: TaskStatus.Success });
    const unknown = locked({ has_prev: true, func: 'nobody' });
    const running = locked({ has_prev: true, status: TaskStatus.Started });
    const failed = locked({ has_prev: true, status: TaskStatus.Error });
    const outdated = locked({ has_prev: true, status: TaskStatus.Success, version: 1 });
    expect(rowsNeedingParents([candidate, orphan, completed, unknown, running, failed, outdated], versions, claims)).toEqual([candidate.id, outdated.id]);
  });
});

describe('parentsByChild', () => {
  it('groups parent rows by the child that asked for them, in their order', () => {
    const a = locked();
    const b = locked();
    const pa1 = parent(a, { name: 'x' });
    const pb = parent(b);
    const pa2 = parent(a, { name: 'y' });
    const grouped = parentsByChild([pa1, pb, pa2]);
    expect(grouped.get(a.id)).toEqual([pa1, pa2]);
    expect(grouped.get(b.id)).toEqual([pb]);
  });
});

describe('planClaim', () => {
  it('starts a row without parents, with empty deps', () => {
    const row = locked();
    const p = plan([row]);
    expect(p.start).toEqual([{ row, deps: {} }]);
    expect(p).toMatchObject({ notRunnable: [], queueParents: [], queueChildrenOf: [] });
  });

  it('starts a row whose parents are all completed, with their results, and a broken one as a DependencyBroken', () => {
    const row = locked({ has_prev: true });
    const ok = parent(row, { name: 'ok', result: [1, 2] });
    const bad = parent(row, { name: 'bad', status: TaskStatus.Broken, result: null, error: 'no such file', broken_reason: 'missing_input' });
    const { start, notRunnable } = plan([row], [ok, bad]);
    expect(notRunnable).toEqual([]);
    expect(start).toHaveLength(1);
    expect(start[0].deps.ok).toEqual([1, 2]);
    expect(start[0].deps.bad).toBeInstanceOf(DependencyBroken);
    expect(start[0].deps.bad).toMatchObject({ dependency: 'bad', reason: 'missing_input', parentError: 'no such file' });
  });

  it('counts a parent of a func not served here as completed at any version', () => {
    const row = locked({ has_prev: true });
    const { start } = plan([row], [parent(row, { func: 'elsewhere', version: 9 })]);
    expect(start.map((s) => s.row.id)).toEqual([row.id]);
  });

  it('re-runs a row completed at an older version of its func', () => {
    const row = locked({ status: TaskStatus.Success, version: 1 });
    expect(plan([row]).start.map((s) => s.row.id)).toEqual([row.id]);
  });

  it('leaves a running row and a failed one alone: no start, no write, nothing queued', () => {
    expect(plan([locked({ status: TaskStatus.Started }), locked({ status: TaskStatus.Error })])).toEqual({ start: [], notRunnable: [], queueParents: [], queueChildrenOf: [] });
  });

  it('only queues the children of a row completed at its current version (delivered again)', () => {
    const done = locked({ status: TaskStatus.Success });
    const broken = locked({ status: TaskStatus.Broken });
    expect(plan([done, broken])).toEqual({ start: [], notRunnable: [], queueParents: [], queueChildrenOf: [done.id, broken.id] });
  });

  it('leaves a row of a func this worker does not claim as it is: a func of another app, or one a newer version runs elsewhere (never unknown_task_func)', () => {
    const stranger = locked({ func: 'nobody' });
    const superseded = locked({ func: 'g', version: 0 });
    const empty = { start: [], notRunnable: [], queueParents: [], queueChildrenOf: [] };
    expect(plan([stranger])).toEqual(empty);
    expect(plan([superseded], [], new Set(['f']))).toEqual(empty);
  });

  it('breaks a row with a parent in error (dependency_has_error) and queues its children, even beside a parent still waiting', () => {
    const row = locked({ has_prev: true, func: 'g', version: 0 });
    const p = plan([row], [parent(row, { name: 'a', status: TaskStatus.Pending }), parent(row, { name: 'b', status: TaskStatus.Error })]);
    expect(p).toEqual({
      start: [],
      notRunnable: [{ id: row.id, status: TaskStatus.Broken, reason: BrokenReason.DependencyHasError, error: '', version: 0 }],
      queueParents: [],
      queueChildrenOf: [row.id],
    });
  });

  it('defers a row whose parent is not completed (unfinished or outdated) and queues those parents once', () => {
    const a = locked({ has_prev: true });
    const b = locked({ has_prev: true });
    const pending = parent(a, { status: TaskStatus.Pending });
    const outdated = parent(a, { name: 'q', status: TaskStatus.Success, version: 1 });
    const done = parent(a, { name: 'r' });
    // b waits on the same pending parent as a.
    const shared = { ...pending, next_id: b.id };
    const p = plan([a, b], [pending, outdated, done, shared]);
    expect(p.start).toEqual([]);
    expect(p.notRunnable).toEqual([
      { id: a.id, status: TaskStatus.Deferred, reason: '', error: '', version: 2 },
      { id: b.id, status: TaskStatus.Deferred, reason: '', error: '', version: 2 },
    ]);
    expect(p.queueParents).toEqual([pending.id, outdated.id]);
    expect(p.queueChildrenOf).toEqual([]);
  });

  it('decides each row of a mixed batch on its own', () => {
    const runs = locked();
    const unknown = locked({ func: 'nobody' });
    const done = locked({ status: TaskStatus.Success });
    const waits = locked({ has_prev: true });
    const errs = locked({ has_prev: true });
    const p = plan([runs, unknown, done, waits, errs], [parent(waits, { status: TaskStatus.Queued, id: '900' }), parent(errs, { status: TaskStatus.Error })]);
    expect(p.start.map((s) => s.row.id)).toEqual([runs.id]);
    expect(p.notRunnable.map((n) => [n.id, n.status, n.reason])).toEqual([
      [waits.id, TaskStatus.Deferred, ''],
      [errs.id, TaskStatus.Broken, BrokenReason.DependencyHasError],
    ]);
    expect(p.queueParents).toEqual(['900']);
    expect(p.queueChildrenOf).toEqual([done.id, errs.id]);
  });
});

describe('startedTasks', () => {
  it('runs the planned rows whose start statement returned an attempt, with that attempt', () => {
    const won = locked({ size_bytes: '1024' });
    const lost = locked();
    const deps = { p: 1 };
    const started = startedTasks([{ row: won, deps }, { row: lost, deps: {} }], new Map([[won.id, 4]]));
    expect(started).toEqual([{ id: won.id, collection: 'c', func: 'f', args: { n: 1 }, attempt: 4, sizeBytes: 1024, deps, failCount: 0, retry: null }]);
  });
});

describe('toPublish', () => {
  it('publishes the rows the queue statements made queued, not those they made pending (bulk funcs)', () => {
    const refs = toPublish([
      { taskId: '1', collection: 'c', func: 'f', priority: 3, status: TaskStatus.Queued },
      { taskId: '2', collection: 'c', func: 'bulk', priority: 0, status: TaskStatus.Pending },
    ]);
    expect(refs).toEqual([{ taskId: '1', collection: 'c', func: 'f', priority: 3 }]);
  });
});
