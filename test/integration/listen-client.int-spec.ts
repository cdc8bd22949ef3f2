import { describe, expect, it, jest, beforeAll, afterAll } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { Pool } from 'pg';
import { CLOSED, LISTENING, LOST, ListenClient } from '../../src/database/listen-client.js';
import { CancelListener } from '../../src/runner/cancel-listener.js';
import { TaskAdminService } from '../../src/tasks/task-admin.service.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { finishedTask, taskRow } from '../factories/task.factory.js';
import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

/** Why each lc.block run was aborted, by task id. */
const aborted = new Map<string, string>();

@Injectable()
class ListenHandlers {
  @TaskHandler('lc.quick')
  quick(): string {
    return 'done';
  }

  /** Runs until aborted; remembers why. */
  @TaskHandler('lc.block')
  async block(_args: unknown, _deps: unknown, ctx: TaskContext): Promise<void> {
    await new Promise<void>((resolve) => {
      ctx.signal.addEventListener('abort', () => {
        aborted.set(ctx.taskId, String((ctx.signal.reason as Error)?.name ?? ctx.signal.reason));
        resolve();
      });
    });
  }
}

/** The app's connections by application_name (the test's own pool has none). */
async function connectionsByName(db: Pool): Promise<Record<string, number>> {
  const { rows } = await db.query<{ name: string; n: number }>(
    `SELECT application_name AS name, count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name <> '' GROUP BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

async function listenPids(db: Pool): Promise<number[]> {
  const { rows } = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'laterz-listen'`,
  );
  return rows.map((r) => r.pid);
}

describe('one LISTEN connection per worker process (PostgreSQL transport)', () => {
  let app: TestApp;
  let listen: ListenClient;

  beforeAll(async () => {
    // An idle worker polls once a minute: within a test, only a NOTIFY (or a reconnect's catch-up) wakes it.
    app = await startTestApp({ handlers: [ListenHandlers], env: { WORKER_POLL_MS: '60000' } });
    listen = app.get(ListenClient);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('wake-ups and cancels share one connection: no other connection of the process LISTENs', async () => {
    await waitFor(async () => listen.mode === LISTENING, 'the LISTEN connection');
    const byName = await connectionsByName(app.db);
    const listening = Object.entries(byName).filter(([name]) => /listen/.test(name));
    expect(listening).toEqual([['laterz-listen', 1]]);
    expect(listen.connectionsOpened).toBe(1);
  });

  it('after pg_terminate_backend of that connection, a wake-up and a cancel both still arrive on the new one', async () => {
    const [pid] = await listenPids(app.db);
    const opened = listen.connectionsOpened;
    await app.db.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
    await waitFor(async () => listen.mode === LISTENING && listen.connectionsOpened === opened + 1, 'the LISTEN connection back');
    const pids = await listenPids(app.db);
    expect(pids).toHaveLength(1);
    expect(pids[0]).not.toBe(pid);

    // The wake-up: a NOTIFY on the new connection (the poll is a minute away).
    const quick = await app.get(TasksService).enqueue('lc.quick', { n: 1 });
    expect((await finishedTask(app.db, quick.id)).status).toBe('success');

    // The cancel: a NOTIFY on the same connection aborts the running handler.
    const block = await app.get(TasksService).enqueue('lc.block', { n: 1 });
    await waitFor(async () => (await taskRow(app.db, block.id)).status === 'started', 'lc.block running');
    await app.get(TaskAdminService).cancelTask(block.id);
    await waitFor(async () => aborted.get(block.id), 'the running lc.block aborted by the cancel');
    expect(aborted.get(block.id)).toBe('TaskCancelled');
  });

  it('a cancel committed while the connection is down still aborts its handler: the cancel listener re-reads after the reconnect', async () => {
    const recheck = jest.spyOn(app.get(CancelListener), 'recheck');
    // Other args than the previous test's: the same ones name the same (now cancelled) task.
    const block = await app.get(TasksService).enqueue('lc.block', { n: 2 });
    await waitFor(async () => (await taskRow(app.db, block.id)).status === 'started', 'lc.block running');
    const [pid] = await listenPids(app.db);
    // The connection dies inside the cancel's transaction, before its NOTIFY is sent (at commit):
    // no connection of the process LISTENs when it goes out (the reconnect waits 250 ms first).
    await app.get(TaskAdminService).cancelTask(block.id, { within: async (tx) => {
      await tx.rows({ text: 'SELECT pg_terminate_backend($1, 5000)' }, [pid]);
      await waitFor(async () => listen.mode === LOST, 'the LISTEN connection noticed lost');
    } });
    await waitFor(async () => aborted.get(block.id), 'the running lc.block aborted after the reconnect');
    expect(aborted.get(block.id)).toBe('TaskCancelled');
    expect(recheck).toHaveBeenCalled();
    recheck.mockRestore();
  });
});

describe('ListenClient', () => {
  let database: { url: string; drop?: () => Promise<void> };
  let db: Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Pool({ connectionString: database.url, max: 2 });
  });
  afterAll(async () => {
    await db?.end();
    await database?.drop?.();
  });

  it('opens no connection until a subscriber asks, then one for every channel, and close leaves nothing open', async () => {
    const client = new ListenClient({ url: database.url, applicationName: 'laterz-listen-test' });
    const count = async () =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'laterz-listen-test'`)).rows[0].n;
    expect(await count()).toBe(0);
    const got: string[] = [];
    await client.subscribe('lc_one', { notify: (p) => got.push(`one:${p}`) });
    await client.subscribe('lc_two', { notify: (p) => got.push(`two:${p}`) });
    expect(await count()).toBe(1);
    await db.query(`SELECT pg_notify('lc_one', 'a'), pg_notify('lc_two', 'b')`);
    await waitFor(async () => got.length === 2, 'both notifications');
    expect(got.sort()).toEqual(['one:a', 'two:b']);

    await client.close();
    expect(client.mode).toBe(CLOSED);
    await waitFor(async () => (await count()) === 0, 'the connection gone');
    await expect(client.subscribe('lc_one', { notify: () => undefined })).rejects.toThrow('LISTEN client closed');
  });

  it('closed while lost: close resolves and nothing stays open', async () => {
    const client = new ListenClient({ url: database.url, applicationName: 'laterz-listen-lost', minDelayMs: 60_000 });
    const count = async () =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'laterz-listen-lost'`)).rows[0].n;
    await client.subscribe('lc_one', { notify: () => undefined });
    const { rows } = await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'laterz-listen-lost'`);
    await db.query('SELECT pg_terminate_backend($1, 5000)', [rows[0].pid]);
    await waitFor(async () => client.mode === LOST, 'the loss noticed');
    await client.close();
    expect(client.mode).toBe(CLOSED);
    expect(client.connectionsOpened).toBe(1);
    expect(await count()).toBe(0);
  });
});
