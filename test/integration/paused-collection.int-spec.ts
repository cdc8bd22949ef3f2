import { Injectable } from '@nestjs/common';
import { CollectionsService } from '../../src/collections/collections.service.js';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { waitFor } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';
import { testAmqpPrefix } from '../helpers/scratch.js';

noteSkippedAmqp('paused collections');

/** Runs of pause.run, by task id. */
const runs = new Map<string, number>();

@Injectable()
class PauseHandlers {
  @TaskHandler('pause.run')
  run(_args: unknown, _deps: unknown, ctx: TaskContext) {
    runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
    return ctx.collection;
  }
}

describe.each(TRANSPORTS)('a paused collection (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  let app: TestApp;

  beforeAll(async () => {
    runs.clear();
    app = await startTestApp({
      handlers: [PauseHandlers],
      env: {
        // The scheduler's timers are off in tests: it is here for dispatcher.runOnce().
        ROLES: 'worker,scheduler',
        COLLECTIONS: 'held:noprocess',
        DISPATCH_MIN_AGE_SECONDS: '0',
        ...transportEnv(transport, prefix),
      },
    });
  });
  afterAll(async () => {
    await app?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  const rows = async (ids: string[]) =>
    (
      await app.db.query<{ id: string; status: string; attempt: number; fail_count: number; error: string; broken_reason: string }>(
        `SELECT id::text AS id, status::text AS status, attempt, fail_count, error, broken_reason FROM task WHERE id = ANY($1::bigint[]) ORDER BY id`,
        [ids],
      )
    ).rows;
  const allIn = async (ids: string[], statuses: string[]) => (await rows(ids)).every((r) => statuses.includes(r.status));

  it('its queued tasks are not claimed but handed back unbroken, and run once it is resumed', async () => {
    const tasks = app.get(TasksService);
    // Enqueued (and published: queueNow) before the others, so a worker that ignores the pause takes them first.
    const held = (await tasks.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ func: 'pause.run', args: { i }, collection: 'held' })))).map((h) => h.id);
    const free = (await tasks.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ func: 'pause.run', args: { i }, collection: 'default' })))).map((h) => h.id);

    await waitFor(
      async () => (await allIn(free, ['success'])) && (await allIn(held, ['pending', 'success', 'broken', 'error'])),
      'the worker to take the queued tasks of both collections',
    );
    expect(held.filter((id) => runs.has(id))).toEqual([]);
    for (const r of await rows(held)) expect(r).toMatchObject({ status: 'pending', attempt: 0, fail_count: 0, error: '', broken_reason: '' });

    // Paused, the dispatcher leaves them too.
    const dispatcher = app.get(DispatcherService);
    await dispatcher.runOnce();
    expect(await allIn(held, ['pending'])).toBe(true);

    await app.get(CollectionsService).upsert('held', { process: true });
    await waitFor(
      async () => {
        await dispatcher.runOnce();
        return allIn(held, ['success']);
      },
      'the resumed collection to run',
    );
    expect(held.map((id) => runs.get(id))).toEqual(held.map(() => 1));
    expect(free.map((id) => runs.get(id))).toEqual(free.map(() => 1));
  });
});
