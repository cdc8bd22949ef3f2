import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskAdminService } from '../../src/tasks/task-admin.service.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { TaskStatus } from '../../src/tasks/task-status.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { waitFor } from '../helpers/databases.js';

const runs: Record<string, number> = {};
const count = (key: string) => (runs[key] = (runs[key] ?? 0) + 1);

@Injectable()
class EnqueueHandlers {
  @TaskHandler('e.echo')
  echo(args: { v: string }) {
    count(`echo:${args.v}`);
    return args.v;
  }

  @TaskHandler('e.fails')
  fails(args: { v: number }) {
    count(`fails:${args.v}`);
    if (runs.healed) return 'healed';
    throw new Error('not yet');
  }

  @TaskHandler('e.drops-dep')
  dropsDep(_args: unknown, deps: Record<string, unknown>, ctx: TaskContext) {
    count('drops-dep');
    ctx.removeDependency('stale');
    return Object.keys(deps);
  }
}

describe('enqueue and retry', () => {
  let app: TestApp;
  let tasks: TasksService;
  const status = async (id: string) => (await app.db.query('SELECT status FROM task WHERE id = $1', [id])).rows[0]?.status as string | undefined;
  const settled = (id: string, wanted = ['success', 'broken', 'error']) =>
    waitFor(async () => {
      const s = await status(id);
      return s && wanted.includes(s) ? s : undefined;
    }, `task ${id} to settle`);

  beforeAll(async () => {
    app = await startTestApp({ handlers: [EnqueueHandlers] });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('joins the caller transaction: a rollback leaves no task and runs nothing', async () => {
    const ds = app.get(DataSource);
    await expect(
      ds.transaction(async (manager) => {
        const h = await tasks.enqueue('e.echo', { v: 'rolled-back' }, {}, manager);
        expect(h.created).toBe(true);
        throw new Error('caller fails after enqueueing');
      }),
    ).rejects.toThrow('caller fails');
    const { rows } = await app.db.query(`SELECT count(*)::int AS n FROM task WHERE args->>'v' = 'rolled-back'`);
    expect(rows[0].n).toBe(0);
    expect(runs['echo:rolled-back']).toBeUndefined();
  });

  it('a rolled-back enqueue into a new collection leaves it unknown: the next enqueue there makes its row', async () => {
    const ds = app.get(DataSource);
    await expect(
      ds.transaction(async (manager) => {
        await tasks.enqueue('e.echo', { v: 'ghost-1' }, { collection: 'ghost', queueNow: false }, manager);
        throw new Error('caller fails after enqueueing');
      }),
    ).rejects.toThrow('caller fails');
    expect((await app.db.query(`SELECT name FROM collection WHERE name = 'ghost'`)).rows).toEqual([]);
    const h = await tasks.enqueue('e.echo', { v: 'ghost-2' }, { collection: 'ghost', queueNow: false });
    expect(h).toMatchObject({ collection: 'ghost', created: true });
    expect((await app.db.query(`SELECT name FROM collection WHERE name = 'ghost'`)).rows).toEqual([{ name: 'ghost' }]);
  });

  it('joins the caller transaction: the task runs once it commits', async () => {
    const ds = app.get(DataSource);
    const handle = await ds.transaction(async (manager) => {
      await manager.query(`INSERT INTO collection (name) VALUES ('tx-made')`);
      return tasks.enqueue('e.echo', { v: 'committed' }, { collection: 'tx-made' }, manager);
    });
    expect(await settled(handle.id)).toBe('success');
    expect(runs['echo:committed']).toBe(1);
  });

  it('leaves a task pending when queueNow is false', async () => {
    const h = await tasks.enqueue('e.echo', { v: 'later' }, { queueNow: false });
    expect(h.status).toBe(TaskStatus.Pending);
    const again = await tasks.enqueue('e.echo', { v: 'later' });
    expect(again.id).toBe(h.id);
    expect(again.status).toBe(TaskStatus.Queued);
    expect(await settled(h.id)).toBe('success');
  });

  it('keeps one identity key per task: made with the task, gone with it, so the call makes a new task after', async () => {
    const h = await tasks.enqueue('e.echo', { v: 'keyed' }, { queueNow: false });
    const keys = () => app.db.query<{ task_id: string }>(`SELECT task_id::text FROM task_key WHERE func = 'e.echo' AND task_id = $1`, [h.id]);
    expect((await keys()).rows).toEqual([{ task_id: h.id }]);
    // A purge deletes the row: its key goes with it (ON DELETE CASCADE), nothing is left to point nowhere.
    await app.db.query('DELETE FROM task WHERE id = $1', [h.id]);
    expect((await keys()).rows).toEqual([]);
    const again = await tasks.enqueue('e.echo', { v: 'keyed' }, { queueNow: false });
    expect(again.id).not.toBe(h.id);
    expect(again.status).toBe(TaskStatus.Pending);
    const { rows } = await app.db.query(`SELECT count(*)::int AS n FROM task_key k JOIN task t ON t.id = k.task_id WHERE t.args->>'v' = 'keyed'`);
    expect(rows[0].n).toBe(1);
  });

  it('retries by filter in one update and hands the first slice to the broker', async () => {
    const handles = await tasks.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ func: 'e.fails', args: { v: i }, collection: 'retry-me' })));
    for (const h of handles) expect(await settled(h.id)).toBe('error');
    runs.healed = 1;
    const result = await app.get(TaskAdminService).retryTasks({ collection: 'retry-me', status: [TaskStatus.Error] }, 1000, { firstSlice: 10, resetFailCount: true });
    expect(result).toEqual({ reset: 30, queued: 10 });
    const { rows } = await app.db.query(
      `SELECT status::text, count(*)::int AS n FROM task WHERE collection = 'retry-me' GROUP BY 1 ORDER BY 1`,
    );
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    expect((byStatus.pending ?? 0) + (byStatus.queued ?? 0) + (byStatus.started ?? 0) + (byStatus.success ?? 0)).toBe(30);
    expect(byStatus.error).toBeUndefined();
    await waitFor(async () => {
      const r = await app.db.query(`SELECT count(*)::int AS n FROM task WHERE collection = 'retry-me' AND status = 'success'`);
      return r.rows[0].n >= 10;
    }, 'the first slice to run');
    const fc = await app.db.query(`SELECT max(fail_count)::int AS m FROM task WHERE collection = 'retry-me'`);
    expect(fc.rows[0].m).toBe(0);
  });

  it('refuses to retry a running task and a task that does not exist', async () => {
    const h = await tasks.enqueue('e.echo', { v: 'running' }, { queueNow: false });
    await app.db.query(`UPDATE task SET status = 'started' WHERE id = $1`, [h.id]);
    await expect(tasks.retryTask(h.id)).rejects.toThrow(/is running/);
    await expect(tasks.retryTask('987654321')).rejects.toThrow(/does not exist/);
  });

  it('drops a dependency a handler no longer wants, then runs without it', async () => {
    const stale = await tasks.enqueue('e.echo', { v: 'stale-parent' });
    const keep = await tasks.enqueue('e.echo', { v: 'kept-parent' });
    const child = await tasks.enqueue('e.drops-dep', {}, { dependsOn: { stale, keep } });
    expect(await settled(child.id)).toBe('success');
    const { rows } = await app.db.query('SELECT result FROM task WHERE id = $1', [child.id]);
    expect(rows[0].result).toEqual(['keep']);
    const edges = await app.db.query('SELECT name FROM task_dependency WHERE next_id = $1', [child.id]);
    expect(edges.rows.map((e) => e.name)).toEqual(['keep']);
  });

  it('deletes extra dependencies and re-runs a finished task given a new edge', async () => {
    const a = await tasks.enqueue('e.echo', { v: 'dep-a' });
    const b = await tasks.enqueue('e.echo', { v: 'dep-b' });
    const child = await tasks.enqueue('e.echo', { v: 'edge-child' }, { dependsOn: { a } });
    expect(await settled(child.id)).toBe('success');
    const before = runs['echo:edge-child'];
    const again = await tasks.enqueue('e.echo', { v: 'edge-child' }, { dependsOn: { b }, deleteExtraDeps: true });
    expect(again.status).toBe(TaskStatus.Queued);
    await waitFor(async () => runs['echo:edge-child'] === before + 1, 'the child to run again');
    const edges = await app.db.query('SELECT name FROM task_dependency WHERE next_id = $1', [child.id]);
    expect(edges.rows.map((e) => e.name)).toEqual(['b']);
  });
});
