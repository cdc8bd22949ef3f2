import { Injectable } from '@nestjs/common';
import { Pool, type PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { Broker, type PublishRef } from '../../src/broker/broker.js';
import type { CallerTransaction } from '../../src/tasks/enqueue-request.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { NotInTransaction } from '../../src/tasks/tasks.errors.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('transactional enqueue');

/** Runs of tx.run, by the `v` of its args. */
const runs = new Map<string, number>();

@Injectable()
class TxHandlers {
  @TaskHandler('tx.run')
  run(args: { v: string }) {
    runs.set(args.v, (runs.get(args.v) ?? 0) + 1);
    return args.v;
  }

  @TaskHandler('tx.child')
  child(args: { v: string }, deps: { parent: string }, ctx: TaskContext) {
    runs.set(args.v, (runs.get(args.v) ?? 0) + 1);
    return `${deps.parent}>${ctx.func}`;
  }
}

/*
 * "The app's own transaction": a DataSource and a pg pool of the test's own, whose search_path is
 * the app's schema (`app`), where laterz's types and tables are not: the enqueue's statements must
 * name laterz's schema themselves.
 */
describe.each(TRANSPORTS)('enqueue in the app’s own transaction (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  let database: { url: string; drop: () => Promise<void> };
  let app: TestApp;
  let tasks: TasksService;
  let appDataSource: DataSource;
  let appPool: Pool;
  /** Every ref this app's broker was asked to publish. */
  const published: PublishRef[] = [];

  beforeAll(async () => {
    runs.clear();
    database = await createTestDatabase();
    app = await startTestApp({ database, handlers: [TxHandlers], env: { ...transportEnv(transport, prefix) } });
    tasks = app.get(TasksService);
    const broker = app.app.get(Broker, { strict: false });
    const publish = broker.publish.bind(broker);
    broker.publish = (refs, source) => {
      published.push(...refs);
      return publish(refs, source);
    };
    await app.db.query('CREATE SCHEMA app; CREATE TABLE app.orders (id serial PRIMARY KEY, note text NOT NULL)');
    appDataSource = new DataSource({ type: 'postgres', url: database.url, schema: 'app', extra: { options: '-c search_path=app' } });
    await appDataSource.initialize();
    appPool = new Pool({ connectionString: database.url, max: 2, options: '-c search_path=app' });
  });
  afterAll(async () => {
    await appDataSource?.destroy();
    await appPool?.end();
    await app?.close();
    await database?.drop();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  const taskRows = async (ids: string[]) =>
    (await app.db.query<{ id: string; status: string }>('SELECT id::text AS id, status::text AS status FROM task WHERE id = ANY($1::bigint[])', [ids])).rows;
  const tasksWithArg = async (v: string) => (await app.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task WHERE args->>'v' = $1`, [v])).rows[0].n;
  const order = async (note: string) => (await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM app.orders WHERE note = $1', [note])).rows[0].n;
  const succeeded = (ids: string[]) =>
    waitFor(async () => {
      const rows = await taskRows(ids);
      return rows.length === ids.length && rows.every((r) => r.status === 'success');
    }, `tasks ${ids.join(', ')} to succeed`);

  /** Waits for the task to start; its date_started minus `committedAt` (taken just before COMMIT), printed. */
  const startLatency = async (id: string, committedAt: number, what: string): Promise<number> => {
    const started = await waitFor(
      async () => (await app.db.query<{ date_started: Date | null }>('SELECT date_started FROM task WHERE id = $1', [id])).rows[0]?.date_started,
      `task ${id} to start`,
    );
    const ms = started.getTime() - committedAt;
    console.log(`enqueue → start after commit, ${what} on ${transport}: ${ms} ms`);
    return ms;
  };

  /**
   * Proves that nothing of a rolled-back enqueue is published: a later committed one is, and the
   * rolled-back one's publish (or NOTIFY) would have come first.
   */
  const commitSentinel = async (v: string) => {
    const client = await appPool.connect();
    try {
      await client.query('BEGIN');
      const handle = await tasks.enqueue('tx.run', { v }, { tx: client });
      await client.query('COMMIT');
      await succeeded([handle.id]);
      return handle;
    } finally {
      client.release();
    }
  };

  it('a TypeORM EntityManager: the task is written with the app’s row and starts within 1 s of the commit', async () => {
    let committedAt = 0;
    const handle = await appDataSource.transaction(async (manager) => {
      await manager.query('INSERT INTO orders (note) VALUES ($1)', ['em-commit']);
      const h = await tasks.enqueue('tx.run', { v: 'em-commit' }, { collection: 'tx-new', tx: manager });
      expect(h).toMatchObject({ created: true, status: 'queued', collection: 'tx-new' });
      committedAt = Date.now();
      return h;
    });
    expect(await startLatency(handle.id, committedAt, 'EntityManager')).toBeLessThan(1000);
    await succeeded([handle.id]);
    expect(await order('em-commit')).toBe(1);
    expect(runs.get('em-commit')).toBe(1);
    if (transport === 'amqp') expect(published.map((r) => r.taskId)).toContain(handle.id);
  });

  it('a TypeORM QueryRunner: enqueueMany, and a retry of a finished task, published at the commit', async () => {
    const first = await tasks.enqueue('tx.run', { v: 'qr-again' });
    await succeeded([first.id]);
    const runner = appDataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const handles = await tasks.enqueueMany(
        [
          { func: 'tx.run', args: { v: 'qr-1' } },
          { func: 'tx.run', args: { v: 'qr-again' }, retry: true },
        ],
        { tx: runner },
      );
      expect(handles.map((h) => h.created)).toEqual([true, false]);
      expect(handles[1].id).toBe(first.id);
      const committedAt = Date.now();
      await runner.commitTransaction();
      expect(await startLatency(handles[0].id, committedAt, 'QueryRunner')).toBeLessThan(1000);
      await succeeded(handles.map((h) => h.id));
    } finally {
      await runner.release();
    }
    expect(runs.get('qr-again')).toBe(2);
  });

  it('a TypeORM rollback: no task, no row of the app’s, nothing published', async () => {
    let id = '';
    await expect(
      appDataSource.transaction(async (manager) => {
        await manager.query('INSERT INTO orders (note) VALUES ($1)', ['em-rollback']);
        id = (await tasks.enqueue('tx.run', { v: 'em-rollback' }, { tx: manager })).id;
        throw new Error('the app fails after enqueueing');
      }),
    ).rejects.toThrow('the app fails');
    await commitSentinel('after-em-rollback');
    expect(await tasksWithArg('em-rollback')).toBe(0);
    expect(await order('em-rollback')).toBe(0);
    expect(published.map((r) => r.taskId)).not.toContain(id);
    expect(runs.has('em-rollback')).toBe(false);
  });

  it('savepoints: a nested transaction that rolls back drops only its own enqueues', async () => {
    const ids: Record<string, string> = {};
    await appDataSource.transaction(async (manager) => {
      ids.outer = (await tasks.enqueue('tx.run', { v: 'sp-outer' }, { tx: manager })).id;
      await manager.transaction(async (nested) => {
        ids.released = (await tasks.enqueue('tx.run', { v: 'sp-released' }, { tx: nested })).id;
      });
      await expect(
        manager.transaction(async (nested) => {
          ids.dropped = (await tasks.enqueue('tx.run', { v: 'sp-dropped' }, { tx: nested })).id;
          throw new Error('the savepoint rolls back');
        }),
      ).rejects.toThrow('the savepoint rolls back');
    });
    await succeeded([ids.outer, ids.released]);
    await commitSentinel('after-savepoint');
    expect(await tasksWithArg('sp-dropped')).toBe(0);
    expect(published.map((r) => r.taskId)).not.toContain(ids.dropped);
    if (transport === 'amqp') expect(published.map((r) => r.taskId)).toEqual(expect.arrayContaining([ids.outer, ids.released]));
    expect([runs.get('sp-outer'), runs.get('sp-released'), runs.has('sp-dropped')]).toEqual([1, 1, false]);
  });

  it('a pg client: a DAG written with the app’s row, started within 1 s of the commit', async () => {
    const client = await appPool.connect();
    let parent: string;
    let childId: string;
    let committedAt: number;
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO orders (note) VALUES ($1)', ['pg-commit']);
      const p = await tasks.enqueue('tx.run', { v: 'pg-parent' }, { tx: client });
      const [child] = await tasks.enqueueMany([{ func: 'tx.child', args: { v: 'pg-child' }, dependsOn: { parent: p }, queueNow: false }], { tx: client });
      parent = p.id;
      childId = child.id;
      committedAt = Date.now();
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await startLatency(parent, committedAt, 'pg client')).toBeLessThan(1000);
    await succeeded([parent, childId]);
    const result = (await app.db.query<{ result: unknown }>('SELECT result FROM task WHERE id = $1', [childId])).rows[0].result;
    expect(result).toBe('pg-parent>tx.child');
    expect(await order('pg-commit')).toBe(1);
    if (transport === 'amqp') expect(published.map((r) => r.taskId)).toContain(parent);
  });

  it('a pg client rollback: no task, nothing published', async () => {
    const client = await appPool.connect();
    let id = '';
    try {
      await client.query('BEGIN');
      id = (await tasks.enqueue('tx.run', { v: 'pg-rollback' }, { tx: client })).id;
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await commitSentinel('after-pg-rollback');
    expect(await tasksWithArg('pg-rollback')).toBe(0);
    expect(published.map((r) => r.taskId)).not.toContain(id);
    expect(runs.has('pg-rollback')).toBe(false);
  });

  it('a cycle refused inside the app’s transaction leaves none of the batch in it: the app commits its own work only', async () => {
    const a = await tasks.enqueue('tx.run', { v: 'cyc-a' }, { queueNow: false });
    const b = await tasks.enqueue('tx.child', { v: 'cyc-b' }, { dependsOn: { parent: a }, queueNow: false });
    await appDataSource.transaction(async (manager) => {
      await manager.query('INSERT INTO orders (note) VALUES ($1)', ['cycle-kept']);
      await expect(
        tasks.enqueueMany(
          [
            { func: 'tx.run', args: { v: 'cyc-new' } },
            { func: 'tx.run', args: { v: 'cyc-a' }, dependsOn: { back: b } },
          ],
          { tx: manager },
        ),
      ).rejects.toThrow(/would close a cycle/);
      // The app handles the error and commits the rest of its transaction.
    });
    expect(await order('cycle-kept')).toBe(1);
    expect(await tasksWithArg('cyc-new')).toBe(0);
    const edges = await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_dependency WHERE next_id = $1', [a.id]);
    expect(edges.rows[0].n).toBe(0);
  });

  it('refuses a tx that is not inside a transaction, writing nothing', async () => {
    const refused = (tx: unknown) => tasks.enqueue('tx.run', { v: 'refused' }, { tx: tx as CallerTransaction });
    await expect(refused(appDataSource.manager)).rejects.toThrow(NotInTransaction);
    await expect(refused(appDataSource.manager)).rejects.toThrow(/EntityManager is not a transaction's/);
    const runner = appDataSource.createQueryRunner();
    try {
      await expect(refused(runner)).rejects.toThrow(/QueryRunner is not inside a transaction/);
    } finally {
      await runner.release();
    }
    await expect(refused(appPool)).rejects.toThrow(/pg Pool/);
    await expect(tasks.enqueueMany([{ func: 'tx.run', args: { v: 'refused' } }], { tx: appPool as unknown as PoolClient })).rejects.toThrow(NotInTransaction);
    const client = await appPool.connect();
    try {
      await expect(refused(client)).rejects.toThrow(/pg client is not inside a transaction: run BEGIN/);
      // A client of an older pg (no getTransactionStatus) is asked with a SAVEPOINT.
      const older = { query: client.query.bind(client) };
      await expect(refused(older)).rejects.toThrow(/pg client is not inside a transaction/);
      await client.query('BEGIN');
      const h = await tasks.enqueue('tx.run', { v: 'older-pg' }, { tx: older as unknown as CallerTransaction });
      await client.query('COMMIT');
      await succeeded([h.id]);
    } finally {
      client.release();
    }
    expect(await tasksWithArg('refused')).toBe(0);
  });
});
