import { Injectable } from '@nestjs/common';
import { Client } from 'pg';
import { Broker, PublishRef, TaskRef } from '../../src/broker/broker.js';
import type { ClaimedTask } from '../../src/runner/claim/claim-decisions.js';
import { TaskClaimer } from '../../src/runner/claim/task-claimer.js';
import { TaskFinisher } from '../../src/runner/finish/task-finisher.js';
import { failureOutcome, successOutcome } from '../../src/runner/run/task-outcome.js';
import { TaskRunner } from '../../src/runner/run/task-runner.js';
import { WorkerSession } from '../../src/runner/worker-session.js';
import type { TaskHandle } from '../../src/tasks/enqueue-request.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TaskAdminService } from '../../src/tasks/task-admin.service.js';
import { TaskError } from '../../src/tasks/tasks.errors.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { ServiceProcess, startWorkerProcess, stopIfRunning, workerProcessFuncs } from '../helpers/service-process.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

/** Executions per task id, across every app of this file (they share this process). */
const runs = new Map<string, number>();
/** Handler calls in the order they happened, for the version test. */
const order: string[] = [];

@Injectable()
class RaceHandlers {
  @TaskHandler('race.count')
  async count(_args: unknown, _deps: unknown, ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    await new Promise((r) => setImmediate(r));
    return { ran: ctx.taskId };
  }

  /** Claimed and finished by hand in these tests; never delivered to a runner. */
  @TaskHandler('race.claim')
  claim() {
    throw new Error('race.claim must not run through a runner');
  }

  @TaskHandler('race.stale')
  stale() {
    throw new Error('race.stale must not run through a runner');
  }
}

@Injectable()
class ParentV1 {
  @TaskHandler('v.parent', { version: 1 })
  run(args: { k: string }) {
    order.push(`parent@1:${args.k}`);
    return { v: 1, k: args.k };
  }
}

@Injectable()
class ParentV2 {
  @TaskHandler('v.parent', { version: 2 })
  run(args: { k: string }) {
    order.push(`parent@2:${args.k}`);
    return { v: 2, k: args.k };
  }
}

@Injectable()
class VersionChild {
  @TaskHandler('v.child')
  run(args: { k: string }, deps: { parent: { v: number } }) {
    order.push(`child:${args.k}`);
    return { sawParentVersion: deps.parent.v };
  }
}

const live = () => new AbortController().signal;
/**
 * These tests put tasks in states by hand (pending, started without a runner); the dispatcher's
 * timer must not tidy them up mid-test, so the apps here run no scheduler role.
 */
const NO_SCHEDULER = { ROLES: 'api,worker' };

/** Advisory locks on task ids (session locks on one bigint: classid 0 and objid the id for ids below 2^32). */
const ADVISORY_LOCKS_SQL = `
  SELECT l.objid::bigint::text AS id, l.pid
    FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objsubid = 1
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.objid::bigint = ANY($1::bigint[])`;

/** Claims these tasks the way a delivery would, on `app`'s worker session; returns those it started. */
async function claim(app: TestApp, tasks: TaskHandle[]): Promise<ClaimedTask[]> {
  const refs: TaskRef[] = tasks.map((t) => ({ collection: t.collection, func: t.func, taskId: t.id }));
  return (await app.get(TaskClaimer).claim({ kind: 'refs', refs }, refs.length)).started;
}

async function advisoryLocks(app: TestApp, ids: string[]): Promise<Map<string, number>> {
  const { rows } = await app.db.query<{ id: string; pid: number }>(ADVISORY_LOCKS_SQL, [ids]);
  return new Map(rows.map((r) => [r.id, r.pid]));
}

describe('runner races: two apps on one database', () => {
  let db: { url: string; drop: () => Promise<void> };
  let app1: TestApp;
  let app2: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    [app1, app2] = await Promise.all([
      startTestApp({ handlers: [RaceHandlers], database: db, env: NO_SCHEDULER }),
      startTestApp({ handlers: [RaceHandlers], database: db, env: NO_SCHEDULER }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([app1?.close(), app2?.close()]);
    await db?.drop();
  });

  const row = async (id: string) => (await app1.db.query('SELECT * FROM task WHERE id = $1', [id])).rows[0];

  it('runs each of 200 tasks exactly once while both apps and both consumers race for them', async () => {
    const handles = await app1.get(TasksService).enqueueMany(
      Array.from({ length: 200 }, (_, i) => ({ func: 'race.count', args: { i }, queueNow: false })),
    );
    const ids = handles.map((h) => h.id);
    const refs: PublishRef[] = handles.map((h) => ({ collection: h.collection, func: h.func, taskId: h.id, priority: 0 }));
    const runner1 = app1.get(TaskRunner);
    const runner2 = app2.get(TaskRunner);

    // Four competitors at once: both consumers (the rows become queued) and both runners handed
    // the same 200 deliveries directly, one of them in reverse order.
    await app1.db.query(`UPDATE task SET status = 'queued' WHERE id = ANY($1::bigint[])`, [ids]);
    await app1.app.get(Broker, { strict: false }).publish(refs);
    await Promise.all([runner1.handleBatch({ kind: 'refs', refs }), runner2.handleBatch({ kind: 'refs', refs: [...refs].reverse() })]);

    await waitFor(async () => {
      const { rows } = await app1.db.query(`SELECT count(*)::int AS n FROM task WHERE id = ANY($1::bigint[]) AND status = 'success'`, [ids]);
      return rows[0].n === ids.length;
    }, 'all 200 tasks to succeed');
    expect(ids.filter((id) => runs.get(id) !== 1)).toEqual([]);
    const { rows } = await app1.db.query(`SELECT attempt, count(*)::int AS n FROM task WHERE id = ANY($1::bigint[]) GROUP BY attempt`, [ids]);
    expect(rows).toEqual([{ attempt: 1, n: 200 }]);

    // Delivered again once finished: claimed by nobody, run by nobody.
    await Promise.all([runner1.handleBatch({ kind: 'refs', refs }), runner2.handleBatch({ kind: 'refs', refs })]);
    expect(runner1.runningCount + runner2.runningCount).toBe(0);
    expect(ids.filter((id) => runs.get(id) !== 1)).toEqual([]);
  });

  it('two claimers claiming the same tasks at once never both win', async () => {
    const pid1 = await app1.get(WorkerSession).pid();
    const pid2 = await app2.get(WorkerSession).pid();
    for (let round = 0; round < 5; round++) {
      const handles = await app1.get(TasksService).enqueueMany(
        Array.from({ length: 50 }, (_, i) => ({ func: 'race.claim', args: { round, i }, queueNow: false })),
      );
      const ids = handles.map((h) => h.id);
      const [won1, won2] = await Promise.all([claim(app1, handles), claim(app2, [...handles].reverse())]);
      const ids1 = won1.map((t) => t.id);
      const ids2 = won2.map((t) => t.id);
      expect(ids1.filter((id) => ids2.includes(id))).toEqual([]);
      expect([...ids1, ...ids2].sort()).toEqual([...ids].sort());
      expect([...won1, ...won2].every((t) => t.attempt === 1)).toBe(true);

      // Each winner holds the advisory lock of each task it won, on its own session.
      const locks = await advisoryLocks(app1, ids);
      expect(ids1.map((id) => locks.get(id))).toEqual(ids1.map(() => pid1));
      expect(ids2.map((id) => locks.get(id))).toEqual(ids2.map(() => pid2));

      const finish = (finisher: TaskFinisher, won: ClaimedTask[]) => Promise.all(won.map((t) => finisher.finish(t, successOutcome('done', 1024), '')));
      const [landed1, landed2] = await Promise.all([finish(app1.get(TaskFinisher), won1), finish(app2.get(TaskFinisher), won2)]);
      expect([...landed1, ...landed2].every(Boolean)).toBe(true);
      expect((await advisoryLocks(app1, ids)).size).toBe(0);
      const { rows } = await app1.db.query(`SELECT status::text, count(*)::int AS n FROM task WHERE id = ANY($1::bigint[]) GROUP BY status`, [ids]);
      expect(rows).toEqual([{ status: 'success', n: 50 }]);
    }
  });

  it('a claim takes advisory locks on the tasks it starts and on no other row', async () => {
    // Whatever plan PostgreSQL picks for the claim (an index scan, or a sequential scan when the
    // batch is large next to the table), only the claimed rows may be locked.
    const all = await app1.get(TasksService).enqueueMany(
      Array.from({ length: 400 }, (_, i) => ({ func: 'race.claim', args: { bystander: i }, queueNow: false })),
    );
    const pid1 = await app1.get(WorkerSession).pid();
    const heldBy = async (pid: number) =>
      (
        await app1.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [pid],
        )
      ).rows[0].n;
    expect(await heldBy(pid1)).toBe(0);
    // Nothing is finished until every claim is made: a finish tops the queue up with pending tasks
    // of the same func (snoop's queue_another_task), and the apps' consumers would take bystanders.
    const wonByApp1: ClaimedTask[] = [];
    for (const batch of [all.slice(150, 151), all.slice(0, 100), all.slice(100, 150)]) {
      const won = await claim(app1, batch);
      expect(won).toHaveLength(batch.length);
      wonByApp1.push(...won);
      expect(await heldBy(pid1)).toBe(wonByApp1.length);
    }
    // The bystanders are untouched and can still be claimed by anyone.
    const rest = all.slice(151);
    const won = await claim(app2, rest);
    expect(won).toHaveLength(rest.length);
    expect(await heldBy(pid1)).toBe(151);
    const done = await Promise.all(wonByApp1.map((t) => app1.get(TaskFinisher).finish(t, successOutcome('done', 1024), '')));
    expect(done).toEqual(wonByApp1.map(() => true));
    expect(await heldBy(pid1)).toBe(0);
    await Promise.all(won.map((t) => app2.get(TaskFinisher).finish(t, successOutcome('done', 1024), '')));
  });

  it('after a failed claim statement, releases the task locks it may have taken and keeps those of running tasks', async () => {
    // A claim statement that fails (a deadlock, a timeout) keeps the session advisory locks it took:
    // the claimer then drops every task lock of its session but those of tasks running there.
    const session = app1.get(WorkerSession);
    const handles = await app1.get(TasksService).enqueueMany([0, 1, 2].map((i) => ({ func: 'race.claim', args: { stray: i }, queueNow: false })));
    const [running, strayA, strayB] = handles.map((h) => h.id);
    await session.rows({ name: 'test_lock_three', text: 'SELECT pg_advisory_lock(x) FROM unnest($1::bigint[]) AS x' }, [[running, strayA, strayB]]);
    const pid = await session.pid();
    expect([...(await advisoryLocks(app1, [running, strayA, strayB])).values()]).toEqual([pid, pid, pid]);
    await session.releaseStray((id) => id === running);
    expect([...(await advisoryLocks(app1, [running, strayA, strayB])).entries()]).toEqual([[running, pid]]);
    await session.unlock([running]);
  });

  it("a stale worker's finish changes nothing", async () => {
    const tasks = app1.get(TasksService);
    const finisher = app1.get(TaskFinisher);
    const t = await tasks.enqueue('race.stale', { case: 'stale-attempt' }, { queueNow: false });
    const [claimed] = await claim(app1, [t]);
    expect(claimed).toMatchObject({ id: t.id, attempt: 1 });
    const started = await row(t.id);
    expect(started).toMatchObject({ status: 'started', attempt: 1 });

    // A finish of an older attempt, successful or failed, is refused and writes nothing.
    expect(await finisher.finish({ ...claimed, attempt: 0 }, successOutcome('stale result', 1024), 'stale log')).toBe(false);
    expect(await finisher.finish({ ...claimed, attempt: 0 }, failureOutcome(new TaskError('stale failure'), live()), 'stale log')).toBe(false);
    expect(await row(t.id)).toEqual(started);
    const attempts = async () => (await app1.db.query('SELECT count(*)::int AS n FROM task_attempt WHERE task_id = $1', [t.id])).rows[0].n;
    expect(await attempts()).toBe(0);

    // The current attempt's finish lands; a late duplicate of it, or a stale one after it, does not.
    expect(await finisher.finish(claimed, successOutcome('real result', 1024), 'real log')).toBe(true);
    const done = await row(t.id);
    expect(done).toMatchObject({ status: 'success', attempt: 1, result: 'real result', log: 'real log' });
    expect(await finisher.finish(claimed, failureOutcome(new TaskError('duplicate'), live()), 'dup log')).toBe(false);
    expect(await finisher.finish({ ...claimed, attempt: 0 }, successOutcome('late', 1024), 'late log')).toBe(false);
    expect(await row(t.id)).toEqual(done);
    expect(await attempts()).toBe(0);
  });

  it('a worker declared dead cannot finish the task after another worker took it over', async () => {
    const t = await app1.get(TasksService).enqueue('race.stale', { case: 'taken-over' }, { queueNow: false });
    const [first] = await claim(app1, [t]);
    expect(first.attempt).toBe(1);
    // What the dead-task scan does for a worker whose session is gone: its lock is gone and the task
    // goes back to pending (not queued here: the consumers of both apps would race this claim for it).
    await app1.get(WorkerSession).unlock([t.id]);
    await app1.db.query(`UPDATE task SET status = 'pending' WHERE id = $1`, [t.id]);
    const [second] = await claim(app2, [t]);
    expect(second.attempt).toBe(2);
    const taken = await row(t.id);
    const pid2 = await app2.get(WorkerSession).pid();
    expect((await advisoryLocks(app1, [t.id])).get(t.id)).toBe(pid2);

    // The first worker comes back and finishes its attempt: refused; the row and the new owner's lock are untouched.
    expect(await app1.get(TaskFinisher).finish(first, successOutcome('from the dead', 1024), 'old log')).toBe(false);
    expect(await row(t.id)).toEqual(taken);
    expect((await advisoryLocks(app1, [t.id])).get(t.id)).toBe(pid2);

    expect(await app2.get(TaskFinisher).finish(second, successOutcome('from the living', 1024), 'new log')).toBe(true);
    expect(await row(t.id)).toMatchObject({ status: 'success', attempt: 2, result: 'from the living' });
    expect((await advisoryLocks(app1, [t.id])).size).toBe(0);
  });
});

describe('runner races: claims do not depend on the query plan', () => {
  it('locks only the claimed rows when PostgreSQL scans the whole task table', async () => {
    // A sequential scan is what the planner picks for a batch that is large next to the table, or
    // on stale statistics; forced here for every connection of this database.
    const db = await createTestDatabase();
    const dbName = new URL(db.url).pathname.slice(1);
    let app: TestApp | undefined;
    try {
      const admin = new Client({ connectionString: db.url });
      await admin.connect();
      await admin.query(`ALTER DATABASE ${dbName} SET enable_indexscan = off`);
      await admin.query(`ALTER DATABASE ${dbName} SET enable_bitmapscan = off`);
      await admin.query(`ALTER DATABASE ${dbName} SET enable_indexonlyscan = off`);
      await admin.end();
      app = await startTestApp({ handlers: [RaceHandlers], database: db, env: NO_SCHEDULER });
      const all = await app.get(TasksService).enqueueMany(
        Array.from({ length: 300 }, (_, i) => ({ func: 'race.claim', args: { bystander: i }, queueNow: false })),
      );
      const pid = await app.get(WorkerSession).pid();
      const batch = all.slice(0, 10);
      const won = await claim(app, batch);
      expect(won.map((t) => t.id).sort()).toEqual(batch.map((t) => t.id).sort());
      const { rows } = await app.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [pid],
      );
      expect(rows[0].n).toBe(batch.length);
      expect(await Promise.all(won.map((t) => app!.get(TaskFinisher).finish(t, successOutcome('done', 1024), '')))).toEqual(won.map(() => true));
    } finally {
      await app?.close();
      await db.drop();
    }
  });
});

describe('runner races: a version bump', () => {
  it('re-runs a task at the new version, then its children', async () => {
    const db = await createTestDatabase();
    let app: TestApp | undefined;
    try {
      app = await startTestApp({ handlers: [ParentV1, VersionChild], database: db, env: NO_SCHEDULER });
      const made: Record<string, { parent: string; child: string }> = {};
      for (const k of ['a', 'b']) {
        const tasks = app.get(TasksService);
        const parent = await tasks.enqueue('v.parent', { k }, { collection: `v-${k}` });
        const child = await tasks.enqueue('v.child', { k }, { collection: `v-${k}`, dependsOn: { parent } });
        made[k] = { parent: parent.id, child: child.id };
      }
      const rowOf = async (id: string) => (await app!.db.query('SELECT * FROM task WHERE id = $1', [id])).rows[0];
      const childSaw = (k: string, version: number) =>
        waitFor(async () => {
          const r = await rowOf(made[k].child);
          return r.status === 'success' && r.result?.sawParentVersion === version ? r : undefined;
        }, `child ${k} to succeed on parent version ${version}`);
      await Promise.all([childSaw('a', 1), childSaw('b', 1)]);
      expect(await rowOf(made.a.parent)).toMatchObject({ status: 'success', version: 1, result: { v: 1, k: 'a' } });
      await app.close();
      app = undefined;
      const ran = order.length;

      // The same database, a deploy later: v.parent is at version 2.
      app = await startTestApp({ handlers: [ParentV2, VersionChild], database: db, env: NO_SCHEDULER });
      const tasks = app.get(TasksService);

      // a: the parent is retried; its new result reaches the child, which runs again after it.
      expect(await app.get(TaskAdminService).retryTasks({ collection: 'v-a', func: 'v.parent' }, 1000)).toEqual({ reset: 1, queued: 1 });
      await childSaw('a', 2);
      expect(await rowOf(made.a.parent)).toMatchObject({ status: 'success', version: 2, result: { v: 2, k: 'a' }, attempt: 2 });

      // b: only the child is retried; its outdated parent makes it wait, runs first, then the child.
      await tasks.retryTask(made.b.child);
      await childSaw('b', 2);
      expect(await rowOf(made.b.parent)).toMatchObject({ status: 'success', version: 2, result: { v: 2, k: 'b' }, attempt: 2 });

      const after = order.slice(ran);
      for (const k of ['a', 'b']) expect(after.filter((e) => e.endsWith(`:${k}`))).toEqual([`parent@2:${k}`, `child:${k}`]);
    } finally {
      await app?.close();
      await db.drop();
    }
  });
});

describe('runner races: a worker process killed mid-task', () => {
  let api: TestApp;
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    // This side only enqueues (ROLES=api): the task must run in the worker process.
    api = await startTestApp({ handlers: [workerProcessFuncs('k.hang')], env: { ROLES: 'api' } });
  }, 60000);
  afterAll(async () => {
    await stopIfRunning(worker);
    await api?.close();
  }, 60000);

  it('releases its advisory lock at once on SIGKILL; the row stays started', async () => {
    worker = startWorkerProcess(api.url);
    const t = await api.get(TasksService).enqueue('k.hang', { n: 1 });
    const proc = worker;
    const holder = await waitFor(
      async () => {
        if (proc.hasExited()) throw new Error(`worker process exited early:\n${proc.stderr}\n${proc.stdout}`);
        // The claim takes the lock before it marks the row started and commits: wait for both.
        const pid = (await advisoryLocks(api, [t.id])).get(t.id);
        const { rows } = await api.db.query('SELECT status::text FROM task WHERE id = $1', [t.id]);
        return rows[0].status === 'started' ? pid : undefined;
      },
      `the worker process to start task ${t.id} holding its advisory lock`,
      30000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- worker stderr\n${proc.stderr}\n--- worker stdout\n${proc.stdout.slice(-4000)}`);
    });
    const { rows: sessions } = await api.db.query('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [holder]);
    expect(sessions).toEqual([{ application_name: 'laterz-worker-session' }]);
    expect((await api.db.query('SELECT status::text, attempt FROM task WHERE id = $1', [t.id])).rows[0]).toEqual({ status: 'started', attempt: 1 });

    proc.child.kill('SIGKILL');
    expect(await proc.exited).toBe('SIGKILL');
    // The server notices the dead connection and drops every lock of that session.
    await waitFor(async () => (await advisoryLocks(api, [t.id])).size === 0, "the killed worker's advisory lock to go", 5000);
    const probe = await api.db.connect();
    try {
      const { rows } = await probe.query<{ free: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS free', [t.id]);
      expect(rows[0].free).toBe(true);
      await probe.query('SELECT pg_advisory_unlock($1::bigint)', [t.id]);
    } finally {
      probe.release();
    }
    // Nothing finished it: the row says started until the dead-task scan sees the lock is gone.
    expect((await api.db.query('SELECT status::text, attempt FROM task WHERE id = $1', [t.id])).rows[0]).toEqual({ status: 'started', attempt: 1 });
  }, 60000);
});
