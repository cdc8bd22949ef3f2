import { Injectable } from '@nestjs/common';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TaskHasDependents, TaskNotFound, TaskNotWaiting } from '../../src/tasks/tasks.errors.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { clients } from '../e2e/admin-client.js';
import { taskRow } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('exact scheduling');

/*
 * Issue 18, part 2: a task with a runAfter starts at its time, queued by the due scan (its timer
 * here is 100 ms; the dispatcher's is a day, so no tick of it helps); a scheduled parent or child
 * waits for its time whoever else is enqueued or finishes; a waiting task can be rescheduled or
 * removed, through TasksService and the admin API.
 */

const calls = new Map<string, number>();

@Injectable()
class ScheduledHandlers {
  @TaskHandler('sc.job')
  job(_args: unknown, deps: Record<string, unknown>, ctx: TaskContext) {
    calls.set(ctx.taskId, (calls.get(ctx.taskId) ?? 0) + 1);
    return { deps: Object.keys(deps) };
  }
}

const HOUR = 3_600_000;

describe.each(TRANSPORTS)('exact scheduling (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  let app: TestApp;
  let tasks: TasksService;
  const row = (id: string) => taskRow(app.db, id);
  const status = async (id: string) => (await row(id))?.status as string | undefined;
  const settled = (id: string, want: string) => waitFor(async () => ((await status(id)) === want ? row(id) : undefined), `task ${id} ${want}`, 20000);

  beforeAll(async () => {
    calls.clear();
    app = await startTestApp({ handlers: [ScheduledHandlers], env: { DUE_SCAN_INTERVAL_MS: '100', DISPATCH_MIN_AGE_SECONDS: '0', ...transportEnv(transport, prefix) } });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  it('starts a runAfter task once its time has come, not before, with no dispatcher tick', async () => {
    const { id, status: created } = await tasks.enqueue('sc.job', { n: 1 }, { runAfter: new Date(Date.now() + 1500) });
    expect(created).toBe('pending');
    const done = await settled(id, 'success');
    // The database's clock decides: started at or after the time it was given.
    expect((done.date_started as Date).getTime()).toBeGreaterThanOrEqual((done.run_after as Date).getTime());
  });

  it('never starts a scheduled parent early because a child depending on it was enqueued', async () => {
    const parent = await tasks.enqueue('sc.job', { n: 'parent' }, { runAfter: new Date(Date.now() + HOUR) });
    const child = await tasks.enqueue('sc.job', { n: 'child' }, { dependsOn: { parent } });
    // The child's claim finds its parent unfinished: it waits deferred, and the parent keeps its time.
    await settled(child.id, 'deferred');
    expect(await status(parent.id)).toBe('pending');
    expect(calls.get(parent.id)).toBeUndefined();

    // Rescheduled to now, the parent runs, then the child with its result.
    const moved = await tasks.reschedule(parent.id, new Date());
    expect(moved).toMatchObject({ id: parent.id, status: 'pending' });
    await settled(parent.id, 'success');
    expect((await settled(child.id, 'success')).result).toEqual({ deps: ['parent'] });
  });

  it('a scheduled child waits for its time although its parent has finished', async () => {
    const parent = await tasks.enqueue('sc.job', { n: 'p2' });
    const child = await tasks.enqueue('sc.job', { n: 'c2' }, { dependsOn: { parent }, runAfter: new Date(Date.now() + HOUR) });
    await settled(parent.id, 'success');
    // The parent's finish queued none of its children scheduled for later.
    expect(await status(child.id)).toBe('pending');
  });

  it('reschedule and removeWaiting refuse what does not wait, naming why; nothing changes', async () => {
    const ran = await tasks.enqueue('sc.job', { n: 'ran' });
    await settled(ran.id, 'success');
    await expect(tasks.reschedule(ran.id, new Date())).rejects.toThrow(TaskNotWaiting);
    await expect(tasks.removeWaiting(ran.id)).rejects.toThrow(`task ${ran.id} is success`);
    await expect(tasks.reschedule('987654321', new Date())).rejects.toThrow(TaskNotFound);

    const parent = await tasks.enqueue('sc.job', { n: 'p3' }, { runAfter: new Date(Date.now() + HOUR) });
    await tasks.enqueue('sc.job', { n: 'c3' }, { dependsOn: { parent }, queueNow: false });
    await expect(tasks.removeWaiting(parent.id)).rejects.toThrow(TaskHasDependents);
    expect(await status(parent.id)).toBe('pending');
  });

  it('removes a waiting task', async () => {
    const { id } = await tasks.enqueue('sc.job', { n: 'gone' }, { runAfter: new Date(Date.now() + HOUR) });
    expect(await tasks.removeWaiting(id)).toEqual({ id, collection: 'default', func: 'sc.job' });
    await expect(tasks.get(id)).rejects.toThrow(TaskNotFound);
    // Its identity is free again: the same call makes a new task.
    expect((await tasks.enqueue('sc.job', { n: 'gone' }, { runAfter: new Date(Date.now() + HOUR) })).created).toBe(true);
  });

  it('admin API: PATCH /api/tasks/:id/run-after and DELETE /api/tasks/:id, validated, operator only, audited', async () => {
    const { op, viewer } = clients(app);
    const { id } = await tasks.enqueue('sc.job', { n: 'api' }, { runAfter: new Date(Date.now() + HOUR) });
    await viewer.patch(`/api/tasks/${id}/run-after`, { runAfter: new Date().toISOString() }).expect(403);
    const bad = await op.patch(`/api/tasks/${id}/run-after`, { runAfter: 'tomorrow' }).expect(400);
    expect(JSON.stringify(bad.body)).toContain('runAfter');
    await op.patch(`/api/tasks/${id}/run-after`, { runAfter: new Date().toISOString(), extra: 1 }).expect(400);

    const at = new Date(Date.now() + 2 * HOUR);
    const moved = await op.patch(`/api/tasks/${id}/run-after`, { runAfter: at.toISOString() }).expect(200);
    expect(moved.body).toMatchObject({ id, func: 'sc.job', status: 'pending', runAfter: at.toISOString() });

    await viewer.delete(`/api/tasks/${id}`).expect(403);
    expect((await op.delete(`/api/tasks/${id}`).expect(200)).body).toEqual({ id, collection: 'default', func: 'sc.job', removed: true });
    expect((await op.delete(`/api/tasks/${id}`).expect(404)).body.statusCode).toBe(404);

    const ran = await tasks.enqueue('sc.job', { n: 'api-ran' });
    await settled(ran.id, 'success');
    expect((await op.patch(`/api/tasks/${ran.id}/run-after`, { runAfter: at.toISOString() }).expect(409)).body.message).toContain('is success');

    const { rows } = await app.db.query(`SELECT action, target, count FROM audit_log WHERE action IN ('task.reschedule', 'task.remove') ORDER BY id`);
    expect(rows).toEqual([
      { action: 'task.reschedule', target: { taskId: id, runAfter: at.toISOString() }, count: 1 },
      { action: 'task.remove', target: { taskId: id }, count: 1 },
    ]);
  });
});
