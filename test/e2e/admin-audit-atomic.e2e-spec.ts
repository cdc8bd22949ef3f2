import { Injectable } from '@nestjs/common';
import type { Test } from 'supertest';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { clearTasks, insertDetailedTasks } from '../factories/scheduler.factory.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { clients } from './admin-client.js';

@Injectable()
class Handlers {
  @TaskHandler('e2e.atomic')
  atomic() {
    return null;
  }
}

/**
 * An audit row commits with the change it records, or neither does. The test makes one side fail
 * with a trigger of its own on the test database: a refused audit insert must leave the change
 * undone, and a change refused at commit (a deferred constraint trigger) must leave no audit row.
 */
describe('admin API: an audit row and the change it records commit together', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [Handlers], env: { ROLES: 'api', LOG_LEVEL: 'error' } });
    c = clients(app);
    await app.db.query(`
      CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused by the test (%)', TG_TABLE_NAME; END $$`);
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(async () => {
    await clearTasks(app.db);
    await app.db.query('TRUNCATE audit_log');
    await app.db.query(`INSERT INTO collection (name, process, sync) VALUES ('atomic', true, false) ON CONFLICT (name) DO UPDATE SET process = true, sync = false`);
  });
  afterEach(async () => {
    await app.db.query('DROP TRIGGER IF EXISTS test_refuse ON audit_log');
    await app.db.query('DROP TRIGGER IF EXISTS test_refuse ON task');
    await app.db.query('DROP TRIGGER IF EXISTS test_refuse ON collection');
  });

  /** Every task row (id, status, error, fail count), the flags of collection `atomic`, and the audit rows. */
  async function state() {
    const tasks = (await app.db.query(`SELECT id::text, collection, status::text, error, fail_count FROM task ORDER BY id`)).rows;
    const collection = (await app.db.query(`SELECT process, sync FROM collection WHERE name = 'atomic'`)).rows;
    const audit = (await app.db.query(`SELECT action FROM audit_log`)).rows;
    return { tasks, collection, audit };
  }

  /** A failed, an errored and a pending task; the calls below each change at least one of them. */
  async function seed(): Promise<{ failed: string; pending: string }> {
    const [failed, , pending] = await insertDetailedTasks(app.db, [
      { func: 'e2e.atomic', collection: 'atomic', status: 'error', error: 'first failure', failCount: 1, modifiedAgo: 100 },
      { func: 'e2e.atomic', collection: 'atomic', status: 'broken', brokenReason: 'timeout', error: 'too slow', modifiedAgo: 100 },
      { func: 'e2e.atomic', collection: 'atomic', status: 'pending' },
    ]);
    return { failed, pending };
  }

  const calls: [string, (ids: { failed: string; pending: string }) => Test][] = [
    ['enqueue', () => c.op.post('/api/tasks', { func: 'e2e.atomic', args: { n: 1 }, collection: 'atomic' })],
    ['enqueue into a new collection', () => c.op.post('/api/tasks', { func: 'e2e.atomic', args: { n: 2 }, collection: 'atomic-new' })],
    ['retry one', ({ failed }) => c.op.post(`/api/tasks/${failed}/retry`, { resetFailCount: true })],
    ['retry by filter', () => c.op.post('/api/tasks/retry', { collection: 'atomic' })],
    ['cancel one', ({ pending }) => c.op.post(`/api/tasks/${pending}/cancel`)],
    ['cancel by filter', () => c.op.post('/api/tasks/cancel', { collection: 'atomic' })],
    ['purge', () => c.op.delete('/api/tasks?collection=atomic&olderThanSeconds=60')],
    ['collection toggle', () => c.op.patch('/api/collections/atomic', { process: false })],
  ];

  it.each(calls)('%s: a refused audit row leaves the change undone (500, every row as before)', async (_name, call) => {
    const ids = await seed();
    const before = await state();
    await app.db.query('CREATE TRIGGER test_refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION test_refuse()');
    const res = await call(ids);
    expect(res.status).toBe(500);
    expect(await state()).toEqual(before);
  });

  it.each(calls)('%s: a change refused at commit leaves no audit row (500, every row as before)', async (_name, call) => {
    const ids = await seed();
    const before = await state();
    for (const table of ['task', 'collection']) {
      await app.db.query(
        `CREATE CONSTRAINT TRIGGER test_refuse AFTER INSERT OR UPDATE OR DELETE ON ${table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse()`,
      );
    }
    const res = await call(ids);
    expect(res.status).toBe(500);
    expect(await state()).toEqual(before);
  });

  it('the same calls without a trigger change rows and leave one audit row each (the cases above are not vacuous)', async () => {
    for (const [name, call] of calls) {
      await clearTasks(app.db);
      await app.db.query('TRUNCATE audit_log');
      const ids = await seed();
      const before = await state();
      const res = await call(ids);
      expect([name, res.status < 300]).toEqual([name, true]);
      const after = await state();
      expect([name, after.audit.length]).toEqual([name, 1]);
      expect([name, JSON.stringify([after.tasks, after.collection]) !== JSON.stringify([before.tasks, before.collection])]).toEqual([name, true]);
    }
  });
});
