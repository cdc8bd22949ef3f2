import { Injectable } from '@nestjs/common';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { clearTasks, insertDetailedTasks, insertEdges } from '../factories/scheduler.factory.js';
import { startTestApp, TestApp, TEST_TOKENS } from '../helpers/test-app.js';
import { tokenId } from '../../src/admin/admin-tokens.js';
import { clients, snapshot } from './admin-client.js';

@Injectable()
class RouteHandlers {
  @TaskHandler('e2e.ok', { version: 2 })
  ok(args: { n?: number }) {
    return { n: args.n ?? 0 };
  }

  @TaskHandler('e2e.open', { logArgs: true })
  open() {
    return null;
  }

  @TaskHandler('e2e.secret')
  secret() {
    return null;
  }
}

const MAX_ROWS = 3;

describe('admin API routes (api role, no worker: rows stay as the tests put them)', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [RouteHandlers], env: { ROLES: 'api', ADMIN_MAX_ROWS_PER_CALL: String(MAX_ROWS), LOG_LEVEL: 'error' } });
    c = clients(app);
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(async () => {
    await clearTasks(app.db);
    await app.db.query('TRUNCATE audit_log');
  });

  const task = async (id: string) => (await app.db.query('SELECT *, id::text AS id FROM task WHERE id = $1', [id])).rows[0];
  const audit = async () => (await app.db.query('SELECT who, action, target, count FROM audit_log ORDER BY id')).rows;
  const expectBad = async (res: { status: number; body: { fields?: string[]; message: string } }, field: string) => {
    expect(res.status).toBe(400);
    expect(res.body.fields).toContain(field);
    expect(typeof res.body.message).toBe('string');
  };

  describe('GET /api/tasks', () => {
    it('lists with filters and walks pages with a cursor, on every allow-listed sort', async () => {
      const ids = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'error', error: 'upstream said 503', modifiedAgo: 50 },
        { func: 'e2e.ok', status: 'error', error: 'ECONNRESET', modifiedAgo: 40 },
        { func: 'e2e.ok', status: 'broken', brokenReason: 'timeout', version: 2, modifiedAgo: 30 },
        { func: 'e2e.ok', status: 'success', version: 1, finishedAgo: 20, modifiedAgo: 20 },
        { func: 'e2e.ok', status: 'success', version: 2, finishedAgo: 10, modifiedAgo: 10 },
        { func: 'e2e.secret', status: 'pending', collection: 'other' },
      ]);
      const all = await c.viewer.get('/api/tasks?sort=id&order=asc');
      expect(all.status).toBe(200);
      expect(all.body.items.map((t: { id: string }) => t.id)).toEqual(ids);
      expect(all.body.items[0]).not.toHaveProperty('args');
      expect(all.body.nextCursor).toBeNull();

      const errors = await c.viewer.get('/api/tasks?status=error,broken&func=e2e.ok');
      expect(errors.body.items.map((t: { id: string }) => t.id).sort()).toEqual(ids.slice(0, 3).sort());
      expect((await c.viewer.get('/api/tasks?status=error&status=broken')).body.items).toHaveLength(3);
      expect((await c.viewer.get('/api/tasks?errorContains=ECONN')).body.items.map((t: { id: string }) => t.id)).toEqual([ids[1]]);
      expect((await c.viewer.get('/api/tasks?brokenReason=timeout')).body.items.map((t: { id: string }) => t.id)).toEqual([ids[2]]);
      expect((await c.viewer.get('/api/tasks?collection=other')).body.items.map((t: { id: string }) => t.id)).toEqual([ids[5]]);
      const outdated = await c.viewer.get('/api/tasks?outdated=true');
      expect(outdated.body.items.map((t: { id: string; outdated: boolean }) => [t.id, t.outdated])).toEqual([[ids[3], true]]);
      expect((await c.viewer.get('/api/tasks?outdated=false')).body.items).toHaveLength(5);

      for (const sort of ['id', 'dateCreated', 'dateModified', 'priority', 'failCount', 'attempt']) {
        for (const order of ['asc', 'desc']) {
          const seen: string[] = [];
          let cursor: string | null = null;
          do {
            const page: { body: { items: { id: string }[]; nextCursor: string | null }; status: number } = await c.viewer.get(
              `/api/tasks?sort=${sort}&order=${order}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
            );
            expect(page.status).toBe(200);
            expect(page.body.items.length).toBeLessThanOrEqual(2);
            seen.push(...page.body.items.map((t) => t.id));
            cursor = page.body.nextCursor;
          } while (cursor);
          expect(seen.sort()).toEqual([...ids].sort());
        }
      }
      const byAge = await c.viewer.get('/api/tasks?sort=dateModified&order=asc&limit=5');
      expect(byAge.body.items.map((t: { id: string }) => t.id)).toEqual(ids.slice(0, 5));
    });

    it('needs a token', async () => {
      expect((await c.anon.get('/api/tasks')).status).toBe(401);
      const wrong = await c.with('not-a-token-of-this-service').get('/api/tasks');
      expect(wrong.status).toBe(401);
      expect(wrong.headers['www-authenticate']).toMatch(/^Bearer/);
    });

    it.each([
      ['status', 'status=bogus'],
      ['status', 'status=error,nope'],
      ['limit', 'limit=0'],
      ['limit', 'limit=101'],
      ['limit', 'limit=ten'],
      ['limit', 'limit=1e2'],
      ['sort', 'sort=password'],
      ['sort', 'sort=date_modified;DROP TABLE task'],
      ['order', 'order=sideways'],
      ['outdated', 'outdated=yes'],
      ['cursor', 'cursor=!!!'],
      ['cursor', `cursor=${Buffer.from('{"s":"id","o":"desc","k":"1; DROP TABLE task","id":"1"}').toString('base64url')}`],
      ['cursor', `cursor=${Buffer.from('{"s":"priority","o":"desc","k":"1","id":"1"}').toString('base64url')}`],
      ['collection', 'collection=bad name'],
      ['func', `func=${'f'.repeat(201)}`],
      ['brokenReason', 'brokenReason=has space'],
      ['errorContains', `errorContains=${'e'.repeat(201)}`],
      ['errorContains', 'errorContains=%00'],
      ['modifiedBefore', 'modifiedBefore=yesterday'],
      ['modifiedBefore', 'modifiedBefore=2026-02-30T00:00:00Z'],
      ['collection', 'collection=a&collection=b'],
      ['foo', 'foo=1'],
    ])('400 naming %s for ?%s', async (field, query) => {
      await expectBad(await c.viewer.get(`/api/tasks?${query}`), field);
    });
  });

  describe('GET /api/tasks/:id', () => {
    it('shows the row, failed attempts without stack frames, dependencies both ways; args only for funcs that opt in', async () => {
      const [parent, secret, child, open] = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'success', version: 2, args: { n: 1 }, finishedAgo: 5 },
        { func: 'e2e.secret', status: 'error', args: { password: 'hunter2' }, error: 'Error: boom', failCount: 1, attempt: 1 },
        { func: 'e2e.ok', status: 'deferred', args: { n: 3 } },
        { func: 'e2e.open', status: 'error', args: { visible: true }, attempt: 1 },
      ]);
      await insertEdges(app.db, [
        { prev: parent, next: secret, name: 'input' },
        { prev: secret, next: child, name: 'upstream' },
      ]);
      const stack = 'Error: boom for hunter2\n    at SecretHandler.secret (/srv/app/secret.js:10:5)\n    at run (/srv/app/runner.js:1:1)';
      await app.db.query(`INSERT INTO task_attempt (task_id, attempt, status, error, worker) VALUES ($1, 1, 'error', $2, 'w:1'), ($3, 1, 'error', $2, 'w:1')`, [secret, stack, open]);
      await app.db.query(`UPDATE task SET result = '{"words": 3}', log = 'line one' WHERE id = $1`, [parent]);

      const res = await c.viewer.get(`/api/tasks/${secret}`);
      expect(res.status).toBe(200);
      expect(res.body.task).toMatchObject({ id: secret, func: 'e2e.secret', status: 'error', error: 'Error: boom', failCount: 1, argsRedacted: true });
      expect(res.body.task).not.toHaveProperty('args');
      expect(JSON.stringify(res.body)).not.toContain('SecretHandler');
      expect(res.body.attempts).toEqual([expect.objectContaining({ attempt: 1, status: 'error', error: 'Error: boom for hunter2', worker: 'w:1' })]);
      expect(res.body.dependencies).toEqual([expect.objectContaining({ name: 'input', id: parent, func: 'e2e.ok', status: 'success' })]);
      expect(res.body.dependents).toEqual([expect.objectContaining({ name: 'upstream', id: child, status: 'deferred' })]);
      expect(res.body).toMatchObject({ dependencyCount: 1, dependentCount: 1 });

      const opened = await c.viewer.get(`/api/tasks/${open}`);
      expect(opened.body.task.args).toEqual({ visible: true });
      expect(opened.body.attempts[0].error).toContain('SecretHandler.secret');

      const done = await c.viewer.get(`/api/tasks/${parent}`);
      expect(done.body.task).toMatchObject({ result: { words: 3 }, log: 'line one', outdated: false });
    });

    it('404 for a task that does not exist, 400 for what is not an id, 401 without a token', async () => {
      expect((await c.viewer.get('/api/tasks/123456')).status).toBe(404);
      expect((await c.viewer.get('/api/tasks/123456')).body.message).toContain('123456');
      for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999', '9223372036854775808', '1%20OR%201=1']) {
        await expectBad(await c.viewer.get(`/api/tasks/${bad}`), 'id');
      }
      expect((await c.anon.get('/api/tasks/1')).status).toBe(401);
    });
  });

  describe('GET /api/tasks/:id/graph', () => {
    it('walks the DAG both ways up to the depth', async () => {
      const [a, b, c1, d, side] = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'success', version: 2 },
        { func: 'e2e.ok', status: 'success', version: 2 },
        { func: 'e2e.ok', status: 'pending' },
        { func: 'e2e.ok', status: 'deferred' },
        { func: 'e2e.ok', status: 'error' },
      ]);
      await insertEdges(app.db, [
        { prev: a, next: b, name: 'x' },
        { prev: b, next: c1, name: 'x' },
        { prev: c1, next: d, name: 'x' },
        { prev: side, next: c1, name: 'side' },
      ]);
      const near = await c.viewer.get(`/api/tasks/${b}/graph?depth=1`);
      expect(near.status).toBe(200);
      expect(near.body.nodes.map((n: { id: string; level: number }) => [n.id, n.level])).toEqual([
        [a, -1],
        [b, 0],
        [c1, 1],
      ]);
      expect(near.body.edges).toHaveLength(2);
      const far = await c.viewer.get(`/api/tasks/${b}/graph`);
      expect(far.body.nodes.map((n: { id: string }) => n.id).sort()).toEqual([a, b, c1, d].sort());
      expect(far.body.edges).toHaveLength(3);
      expect(far.body).toMatchObject({ root: b, depth: 3, truncated: false });
      const fromSide = await c.viewer.get(`/api/tasks/${side}/graph?depth=2`);
      expect(fromSide.body.nodes.map((n: { id: string }) => n.id).sort()).toEqual([side, c1, d].sort());
    });

    it('404, 400 per bad field, 401', async () => {
      expect((await c.viewer.get('/api/tasks/999999/graph')).status).toBe(404);
      for (const q of ['depth=0', 'depth=11', 'depth=x', 'depth=1.5', 'depth=-1']) await expectBad(await c.viewer.get(`/api/tasks/1/graph?${q}`), 'depth');
      await expectBad(await c.viewer.get('/api/tasks/x/graph'), 'id');
      await expectBad(await c.viewer.get('/api/tasks/1/graph?deep=1'), 'deep');
      expect((await c.anon.get('/api/tasks/1/graph')).status).toBe(401);
    });
  });

  describe('GET /api/tasks/:id/progress', () => {
    it('counts the subtasks by status, with durations and an ETA', async () => {
      const [parent, ...subs] = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'deferred' },
        { func: 'e2e.ok', status: 'success', finishedAgo: 30, durationSeconds: 10 },
        { func: 'e2e.ok', status: 'success', finishedAgo: 20, durationSeconds: 20 },
        { func: 'e2e.ok', status: 'error' },
        { func: 'e2e.ok', status: 'pending' },
      ]);
      await insertEdges(app.db, subs.map((s, i) => ({ prev: s, next: parent, name: `part${i}` })));
      const res = await c.viewer.get(`/api/tasks/${parent}/progress`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ of: 'dependencies', total: 4, finished: 2, remaining: 2, percent: 50, byStatus: { success: 2, error: 1, pending: 1 } });
      expect(res.body.durationSeconds.avg).toBeCloseTo(15, 0);
      expect(res.body.etaSeconds).toBeGreaterThan(0);
      const up = await c.viewer.get(`/api/tasks/${subs[0]}/progress?of=dependents`);
      expect(up.body).toMatchObject({ of: 'dependents', total: 1, finished: 0, byStatus: { deferred: 1 } });
      const none = await c.viewer.get(`/api/tasks/${subs[0]}/progress`);
      expect(none.body).toMatchObject({ total: 0, percent: 100, etaSeconds: 0 });
    });

    it('404, 400, 401', async () => {
      expect((await c.viewer.get('/api/tasks/999999/progress')).status).toBe(404);
      await expectBad(await c.viewer.get('/api/tasks/1/progress?of=children'), 'of');
      await expectBad(await c.viewer.get('/api/tasks/0/progress'), 'id');
      expect((await c.anon.get('/api/tasks/1/progress')).status).toBe(401);
    });
  });

  describe('POST /api/tasks', () => {
    it('enqueues (get-or-create) with dependencies by id, and audits who did it', async () => {
      const first = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 1 }, collection: 'api-made', priority: 3 });
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ collection: 'api-made', func: 'e2e.ok', status: 'queued', created: true });
      const again = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 1 }, collection: 'api-made' });
      expect(again.body).toMatchObject({ id: first.body.id, created: false });
      const child = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 2 }, collection: 'api-made', dependsOn: { parent: first.body.id }, queueNow: false });
      expect(child.status).toBe(201);
      const edges = await app.db.query('SELECT prev_id::text AS prev, name FROM task_dependency WHERE next_id = $1', [child.body.id]);
      expect(edges.rows).toEqual([{ prev: first.body.id, name: 'parent' }]);
      expect((await task(first.body.id)).priority).toBe(3);
      const rows = await audit();
      expect(rows).toHaveLength(3);
      expect(rows[0]).toMatchObject({ who: `operator:${tokenId(TEST_TOKENS.operator)}`, action: 'task.enqueue', count: 1, target: { taskId: first.body.id } });
      expect(JSON.stringify(rows)).not.toContain(TEST_TOKENS.operator);
      expect(JSON.stringify(rows)).not.toContain('"n"');
    });

    it.each([
      ['func', {}],
      ['func', { func: 'no such func!' }],
      ['func', { func: 42 }],
      ['args', { func: 'e2e.ok', args: { s: 'nul\u0000here' } }],
      ['collection', { func: 'e2e.ok', collection: '../etc' }],
      ['dependsOn', { func: 'e2e.ok', dependsOn: { p: 'abc' } }],
      ['dependsOn', { func: 'e2e.ok', dependsOn: ['1'] }],
      ['dependsOn', { func: 'e2e.ok', dependsOn: { 'bad name': '1' } }],
      ['priority', { func: 'e2e.ok', priority: 10 }],
      ['priority', { func: 'e2e.ok', priority: '5' }],
      ['runAfter', { func: 'e2e.ok', runAfter: 'tomorrow' }],
      ['queueNow', { func: 'e2e.ok', queueNow: 'yes' }],
      ['retry', { func: 'e2e.ok', retry: 1 }],
      ['retryPolicy', { func: 'e2e.ok', retryPolicy: 3 }],
      ['retryPolicy', { func: 'e2e.ok', retryPolicy: { attempts: 0 } }],
      ['retryPolicy', { func: 'e2e.ok', retryPolicy: { backoff: { type: 'fixed', delay: 'soon' } } }],
      ['retryPolicy', { func: 'e2e.ok', retryPolicy: { retryBroken: ['cancelled'] } }],
      ['retryPolicy', { func: 'e2e.ok', retryPolicy: { retries: 3 } }],
      ['extra', { func: 'e2e.ok', extra: true }],
    ])('400 naming %s, nothing written', async (field, body) => {
      const before = await snapshot(app.db);
      await expectBad(await c.op.post('/api/tasks', body), field);
      expect(await snapshot(app.db)).toEqual(before);
    });

    it('retryPolicy: stored with the task, as sent', async () => {
      const retryPolicy = { attempts: 5, backoff: { type: 'exponential', delay: '2s', cap: '10m' }, retryOn: ['ECONNRESET'] };
      const res = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 'policy' }, queueNow: false, retryPolicy });
      expect(res.status).toBe(201);
      const { rows } = await app.db.query('SELECT retry FROM task WHERE id = $1', [res.body.id]);
      expect(rows[0].retry).toEqual(retryPolicy);
    });

    it('400 for a func nobody registered (the engine names it), 404 for a missing parent, 409 for a cycle', async () => {
      const unknown = await c.op.post('/api/tasks', { func: 'e2e.nobody', args: {} });
      expect(unknown.status).toBe(400);
      expect(unknown.body).toMatchObject({ fields: ['func'] });
      expect(unknown.body.message).toContain('e2e.nobody');
      const missing = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 5 }, dependsOn: { p: '987654321' } });
      expect(missing.status).toBe(404);
      expect(missing.body.message).toContain('987654321');
      const a = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 10 }, queueNow: false });
      const b = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 11 }, dependsOn: { a: a.body.id }, queueNow: false });
      const before = await snapshot(app.db);
      const cycle = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { n: 10 }, dependsOn: { b: b.body.id } });
      expect(cycle.status).toBe(409);
      expect(await snapshot(app.db)).toEqual(before);
    });

    it('403 for a viewer, 401 without a token, 413 over 64 KB, 400 for broken JSON without quoting it', async () => {
      const before = await snapshot(app.db);
      expect((await c.viewer.post('/api/tasks', { func: 'e2e.ok' })).status).toBe(403);
      expect((await c.anon.post('/api/tasks', { func: 'e2e.ok' })).status).toBe(401);
      const big = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { blob: 'x'.repeat(70 * 1024) } });
      expect(big.status).toBe(413);
      expect(big.headers['content-type']).toMatch(/json/);
      expect(big.body).toMatchObject({ statusCode: 413, message: expect.stringContaining('64 KB') });
      const form = await c.op.post('/api/tasks').type('form').send(`func=e2e.ok&args=${'y'.repeat(70 * 1024)}`);
      expect(form.status).toBe(413);
      const text = await c.op.post('/api/tasks').type('text').send('z'.repeat(70 * 1024));
      expect(text.status).toBe(413);
      expect(text.body.statusCode).toBe(413);
      const broken = await c.op.post('/api/tasks').type('json').send('{"func": "e2e.ok", "args": {"secret": "s3cr3t", NaN}}');
      expect(broken.status).toBe(400);
      expect(broken.body.message).toBe('the request body is not valid JSON');
      expect(JSON.stringify(broken.body)).not.toContain('s3cr3t');
      expect(await snapshot(app.db)).toEqual(before);
    });
  });

  describe('POST /api/tasks/:id/retry', () => {
    it('queues a failed task again and audits it; 409 while it runs; 404; 400; 403', async () => {
      const [failed, running] = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'error', error: 'boom', failCount: 2, attempt: 2 },
        { func: 'e2e.ok', status: 'started', attempt: 1 },
      ]);
      const res = await c.op.post(`/api/tasks/${failed}/retry`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: failed, status: 'queued' });
      expect(await task(failed)).toMatchObject({ status: 'queued', error: '', fail_count: 2 });
      expect(await audit()).toEqual([expect.objectContaining({ action: 'task.retry', target: { taskId: failed }, count: 1 })]);

      const before = await snapshot(app.db);
      const busy = await c.op.post(`/api/tasks/${running}/retry`);
      expect(busy.status).toBe(409);
      expect(busy.body.message).toContain(running);
      expect((await c.op.post('/api/tasks/424242/retry')).status).toBe(404);
      await expectBad(await c.op.post('/api/tasks/4x/retry'), 'id');
      expect((await c.viewer.post(`/api/tasks/${failed}/retry`)).status).toBe(403);
      expect((await c.anon.post(`/api/tasks/${failed}/retry`)).status).toBe(401);
      expect(await snapshot(app.db)).toEqual(before);
    });
  });

  describe('POST /api/tasks/retry', () => {
    it('counts with dryRun, retries at most ADMIN_MAX_ROWS_PER_CALL and says how many remain', async () => {
      await insertDetailedTasks(app.db, [
        ...Array.from({ length: 5 }, () => ({ func: 'e2e.ok', status: 'error', error: 'quota exceeded', modifiedAgo: 600 })),
        { func: 'e2e.ok', status: 'error', error: 'quota exceeded', modifiedAgo: 1 },
        { func: 'e2e.ok', status: 'broken', brokenReason: 'corrupt_input', modifiedAgo: 600 },
        { func: 'e2e.ok', status: 'success', version: 2, modifiedAgo: 600 },
      ]);
      const filter = { func: 'e2e.ok', status: ['error'], errorContains: 'quota', olderThanSeconds: 300 };
      const before = await snapshot(app.db);
      const dry = await c.op.post('/api/tasks/retry', { ...filter, dryRun: true });
      expect(dry.status).toBe(200);
      expect(dry.body).toEqual({ dryRun: true, matching: 5, wouldChange: MAX_ROWS, limit: MAX_ROWS });
      expect(await snapshot(app.db)).toEqual(before);

      const first = await c.op.post('/api/tasks/retry', filter);
      expect(first.body).toMatchObject({ reset: 3, remaining: 2, limit: MAX_ROWS });
      const second = await c.op.post('/api/tasks/retry', filter);
      expect(second.body).toMatchObject({ reset: 2, remaining: 0 });
      const third = await c.op.post('/api/tasks/retry', filter);
      expect(third.body).toMatchObject({ reset: 0, remaining: 0 });
      const rows = await audit();
      expect(rows.map((r) => [r.action, r.count])).toEqual([
        ['tasks.retry', 3],
        ['tasks.retry', 2],
      ]);
      expect(rows[0].target.filter).toMatchObject({ func: 'e2e.ok', status: ['error'], errorContains: 'quota', olderThanSeconds: 300 });
      const byDefault = await c.op.post('/api/tasks/retry', { dryRun: true });
      expect(byDefault.body.matching).toBe(2); // error (the young one) and broken: the default statuses
    });

    it.each([
      ['status', { status: ['started'] }],
      ['status', { status: 'error' }],
      ['status', { status: [['error']] }],
      ['dryRun', { dryRun: 'yes' }],
      ['resetFailCount', { resetFailCount: 0 }],
      ['olderThanSeconds', { olderThanSeconds: -1 }],
      ['olderThanSeconds', { olderThanSeconds: 1.5 }],
      ['modifiedBefore', { modifiedBefore: 12 }],
      ['collection', { collection: { $ne: 'x' } }],
      ['limit', { limit: 5 }],
    ])('400 naming %s, nothing written', async (field, body) => {
      await insertDetailedTasks(app.db, [{ func: 'e2e.ok', status: 'error' }]);
      const before = await snapshot(app.db);
      await expectBad(await c.op.post('/api/tasks/retry', body), field);
      expect(await snapshot(app.db)).toEqual(before);
    });

    it('403 for a viewer, 401 without a token', async () => {
      expect((await c.viewer.post('/api/tasks/retry', { dryRun: true })).status).toBe(403);
      expect((await c.anon.post('/api/tasks/retry', { dryRun: true })).status).toBe(401);
    });
  });

  describe('POST /api/tasks/:id/cancel', () => {
    it('breaks an unfinished task as cancelled, records the attempt of a running one, queues waiting children', async () => {
      const [pending, running, child, done] = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'pending' },
        { func: 'e2e.ok', status: 'started', attempt: 4, worker: 'gone:1' },
        { func: 'e2e.ok', status: 'deferred' },
        { func: 'e2e.ok', status: 'success', version: 2 },
      ]);
      await insertEdges(app.db, [{ prev: pending, next: child, name: 'in' }]);
      const res = await c.op.post(`/api/tasks/${pending}/cancel`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: pending, status: 'broken', brokenReason: 'cancelled', previous: 'pending' });
      expect(await task(pending)).toMatchObject({ status: 'broken', broken_reason: 'cancelled' });
      expect((await task(pending)).date_finished).not.toBeNull();
      expect((await task(child)).status).toBe('queued');

      expect((await c.op.post(`/api/tasks/${running}/cancel`)).body.previous).toBe('started');
      expect(await task(running)).toMatchObject({ status: 'broken', broken_reason: 'cancelled', attempt: 4 });
      const attempts = await app.db.query('SELECT attempt, status::text, broken_reason FROM task_attempt WHERE task_id = $1', [running]);
      expect(attempts.rows).toEqual([{ attempt: 4, status: 'broken', broken_reason: 'cancelled' }]);
      // The stale worker's finish is guarded by status = 'started': it cannot overwrite the cancel.
      const stale = await app.db.query(`UPDATE task SET status = 'success' WHERE id = $1 AND attempt = 4 AND status = 'started'`, [running]);
      expect(stale.rowCount).toBe(0);
      expect((await audit()).map((r) => [r.action, r.target.taskId])).toEqual([
        ['task.cancel', pending],
        ['task.cancel', running],
      ]);

      const before = await snapshot(app.db);
      const finished = await c.op.post(`/api/tasks/${done}/cancel`);
      expect(finished.status).toBe(409);
      expect(finished.body.message).toContain('success');
      expect((await c.op.post(`/api/tasks/${pending}/cancel`)).status).toBe(409);
      expect((await c.op.post('/api/tasks/77777777/cancel')).status).toBe(404);
      await expectBad(await c.op.post('/api/tasks/x/cancel'), 'id');
      expect((await c.viewer.post(`/api/tasks/${child}/cancel`)).status).toBe(403);
      expect((await c.anon.post(`/api/tasks/${child}/cancel`)).status).toBe(401);
      expect(await snapshot(app.db)).toEqual(before);
    });
  });

  describe('POST /api/tasks/cancel', () => {
    it('cancels by filter at most ADMIN_MAX_ROWS_PER_CALL and says how many remain', async () => {
      await insertDetailedTasks(app.db, [
        ...Array.from({ length: 4 }, () => ({ func: 'e2e.ok', status: 'queued', collection: 'doomed' })),
        { func: 'e2e.ok', status: 'success', collection: 'doomed', version: 2 },
        { func: 'e2e.ok', status: 'queued', collection: 'kept' },
      ]);
      const dry = await c.op.post('/api/tasks/cancel', { collection: 'doomed', dryRun: true });
      expect(dry.body).toMatchObject({ matching: 4, wouldChange: 3 });
      expect((await c.op.post('/api/tasks/cancel', { collection: 'doomed' })).body).toEqual({ cancelled: 3, remaining: 1, limit: MAX_ROWS });
      expect((await c.op.post('/api/tasks/cancel', { collection: 'doomed' })).body).toEqual({ cancelled: 1, remaining: 0, limit: MAX_ROWS });
      const counts = await app.db.query(`SELECT collection, status::text, count(*)::int AS n FROM task GROUP BY 1, 2 ORDER BY 1, 2`);
      expect(counts.rows).toEqual([
        { collection: 'doomed', status: 'broken', n: 4 },
        { collection: 'doomed', status: 'success', n: 1 },
        { collection: 'kept', status: 'queued', n: 1 },
      ]);
      expect((await audit()).map((r) => [r.action, r.count])).toEqual([
        ['tasks.cancel', 3],
        ['tasks.cancel', 1],
      ]);
    });

    it('400 without a filter or with a bad field; 403; 401', async () => {
      await insertDetailedTasks(app.db, [{ func: 'e2e.ok', status: 'queued' }]);
      const before = await snapshot(app.db);
      await expectBad(await c.op.post('/api/tasks/cancel', {}), 'filter');
      await expectBad(await c.op.post('/api/tasks/cancel', { dryRun: false }), 'filter');
      await expectBad(await c.op.post('/api/tasks/cancel', { status: ['success'] }), 'status');
      await expectBad(await c.op.post('/api/tasks/cancel', { func: ['e2e.ok'] }), 'func');
      expect((await c.viewer.post('/api/tasks/cancel', { func: 'e2e.ok' })).status).toBe(403);
      expect((await c.anon.post('/api/tasks/cancel', { func: 'e2e.ok' })).status).toBe(401);
      expect(await snapshot(app.db)).toEqual(before);
    });
  });

  describe('DELETE /api/tasks (purge)', () => {
    it('deletes old errors and broken tasks by filter, keeps those others depend on, at most ADMIN_MAX_ROWS_PER_CALL', async () => {
      const ids = await insertDetailedTasks(app.db, [
        ...Array.from({ length: 4 }, () => ({ func: 'e2e.ok', status: 'error', modifiedAgo: 7200 })),
        { func: 'e2e.ok', status: 'broken', modifiedAgo: 7200 },
        { func: 'e2e.ok', status: 'error', modifiedAgo: 10 },
        { func: 'e2e.ok', status: 'success', version: 2, modifiedAgo: 7200 },
        { func: 'e2e.ok', status: 'deferred' },
      ]);
      await insertEdges(app.db, [{ prev: ids[4], next: ids[7], name: 'in' }]);
      const dry = await c.op.delete('/api/tasks?olderThanSeconds=3600&dryRun=true');
      expect(dry.body).toMatchObject({ dryRun: true, matching: 4 });
      expect((await c.op.delete('/api/tasks?olderThanSeconds=3600')).body).toEqual({ deleted: 3, remaining: 1, limit: MAX_ROWS });
      expect((await c.op.delete('/api/tasks?olderThanSeconds=3600&status=error')).body).toEqual({ deleted: 1, remaining: 0, limit: MAX_ROWS });
      const left = await app.db.query('SELECT id::text AS id FROM task ORDER BY id');
      expect(left.rows.map((r) => r.id)).toEqual(ids.slice(4));
      expect((await audit()).map((r) => [r.action, r.count])).toEqual([
        ['tasks.purge', 3],
        ['tasks.purge', 1],
      ]);
      const future = new Date(Date.now() + 86400_000).toISOString();
      expect((await c.op.delete(`/api/tasks?modifiedBefore=${future}&func=e2e.ok&status=error`)).body).toMatchObject({ deleted: 1 });
    });

    it('400 without an age or with a bad field; 403; 401', async () => {
      await insertDetailedTasks(app.db, [{ func: 'e2e.ok', status: 'error', modifiedAgo: 7200 }]);
      const before = await snapshot(app.db);
      await expectBad(await c.op.delete('/api/tasks'), 'modifiedBefore');
      await expectBad(await c.op.delete('/api/tasks?status=error'), 'modifiedBefore');
      await expectBad(await c.op.delete('/api/tasks?olderThanSeconds=60&status=success'), 'status');
      await expectBad(await c.op.delete('/api/tasks?olderThanSeconds=abc'), 'olderThanSeconds');
      await expectBad(await c.op.delete('/api/tasks?olderThanSeconds=60&modifiedBefore=garbage'), 'modifiedBefore');
      await expectBad(await c.op.delete('/api/tasks?olderThanSeconds=60&dryRun=1'), 'dryRun');
      await expectBad(await c.op.delete('/api/tasks?olderThanSeconds=60&id=1'), 'id');
      expect((await c.viewer.delete('/api/tasks?olderThanSeconds=60')).status).toBe(403);
      expect((await c.anon.delete('/api/tasks?olderThanSeconds=60')).status).toBe(401);
      expect(await snapshot(app.db)).toEqual(before);
    });
  });

  describe('GET /api/queues', () => {
    it('shows per func the broker counts and the database counts by status', async () => {
      await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'queued' },
        { func: 'e2e.ok', status: 'queued' },
        { func: 'e2e.ok', status: 'error' },
        { func: 'gone.func', status: 'pending' },
      ]);
      const res = await c.viewer.get('/api/queues');
      expect(res.status).toBe(200);
      expect(res.body.transport).toBe('postgres');
      const ok = res.body.funcs.find((f: { func: string }) => f.func === 'e2e.ok');
      expect(ok).toMatchObject({ queue: 'default', broker: { ready: 2, unacked: 0 }, database: { queued: 2, error: 1 } });
      expect(res.body.funcs.find((f: { func: string }) => f.func === 'gone.func')).toMatchObject({ queue: null, broker: null, database: { pending: 1 } });
      expect((await c.anon.get('/api/queues')).status).toBe(401);
      await expectBad(await c.viewer.get('/api/queues?x=1'), 'x');
    });
  });

  describe('collections', () => {
    it('lists collections with their saved stats and serves one collection stats row', async () => {
      await app.db.query(`INSERT INTO collection (name) VALUES ('stats-demo') ON CONFLICT DO NOTHING`);
      await app.db.query(`INSERT INTO collection_stats (collection, stats, duration_ms) VALUES ('stats-demo', '{"counts": {"e2e.ok": {"success": 7}}}', 12)`);
      const list = await c.viewer.get('/api/collections');
      expect(list.status).toBe(200);
      expect(list.body.items.find((x: { name: string }) => x.name === 'stats-demo')).toMatchObject({ process: true, stats: { counts: { 'e2e.ok': { success: 7 } } }, statsDurationMs: 12 });
      const one = await c.viewer.get('/api/collections/stats-demo/stats');
      expect(one.body).toMatchObject({ collection: 'stats-demo', stats: { counts: { 'e2e.ok': { success: 7 } } }, durationMs: 12 });
      expect((await c.viewer.get('/api/collections/default/stats')).body).toMatchObject({ collection: 'default', stats: null });
      expect((await c.viewer.get('/api/collections/nope/stats')).status).toBe(404);
      await expectBad(await c.viewer.get('/api/collections/bad%20name/stats'), 'name');
      expect((await c.anon.get('/api/collections')).status).toBe(401);
      expect((await c.anon.get('/api/collections/default/stats')).status).toBe(401);
    });

    it('toggles process / sync and audits it; 404; 400 per bad field; 403; 401', async () => {
      await app.db.query(`INSERT INTO collection (name) VALUES ('flags') ON CONFLICT DO NOTHING`);
      const res = await c.op.patch('/api/collections/flags', { process: false });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: 'flags', process: false, sync: false });
      expect((await c.op.patch('/api/collections/flags', { sync: true })).body).toMatchObject({ process: false, sync: true });
      expect((await audit()).map((r) => [r.action, r.target])).toEqual([
        ['collection.update', { collection: 'flags', process: false }],
        ['collection.update', { collection: 'flags', sync: true }],
      ]);
      const before = await snapshot(app.db);
      expect((await c.op.patch('/api/collections/missing', { process: true })).status).toBe(404);
      await expectBad(await c.op.patch('/api/collections/flags', {}), 'process');
      await expectBad(await c.op.patch('/api/collections/flags', { process: 'false' }), 'process');
      await expectBad(await c.op.patch('/api/collections/flags', { sync: 1 }), 'sync');
      await expectBad(await c.op.patch('/api/collections/flags', { process: true, options: {} }), 'options');
      await expectBad(await c.op.patch('/api/collections/a%2Fb', { process: true }), 'name');
      expect((await c.viewer.patch('/api/collections/flags', { process: true })).status).toBe(403);
      expect((await c.anon.patch('/api/collections/flags', { process: true })).status).toBe(401);
      expect(await snapshot(app.db)).toEqual(before);
    });
  });

  describe('GET /api/audit', () => {
    it('lists the audit rows newest first with a cursor; who is role:token-id, never the token', async () => {
      const [a, b, d] = await insertDetailedTasks(app.db, [
        { func: 'e2e.ok', status: 'error' },
        { func: 'e2e.ok', status: 'error' },
        { func: 'e2e.ok', status: 'error' },
      ]);
      for (const id of [a, b, d]) expect((await c.op.post(`/api/tasks/${id}/retry`)).status).toBe(200);
      const first = await c.viewer.get('/api/audit?limit=2');
      expect(first.status).toBe(200);
      expect(first.body.items.map((r: { target: { taskId: string } }) => r.target.taskId)).toEqual([d, b]);
      expect(first.body.items[0]).toMatchObject({ who: `operator:${tokenId(TEST_TOKENS.operator)}`, action: 'task.retry', count: 1 });
      const second = await c.viewer.get(`/api/audit?limit=2&cursor=${first.body.nextCursor}`);
      expect(second.body.items.map((r: { target: { taskId: string } }) => r.target.taskId)).toEqual([a]);
      expect(second.body.nextCursor).toBeNull();
      expect((await c.viewer.get('/api/audit?action=task.cancel')).body.items).toEqual([]);
      expect(JSON.stringify(first.body)).not.toContain(TEST_TOKENS.operator);
      for (const q of ['limit=0', 'limit=500', 'cursor=abc', 'action=DROP TABLE']) {
        expect((await c.viewer.get(`/api/audit?${q}`)).status).toBe(400);
      }
      expect((await c.anon.get('/api/audit')).status).toBe(401);
    });
  });

  describe('GET /metrics', () => {
    it('serves Prometheus text to a viewer, nothing without a token', async () => {
      const res = await c.viewer.get('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.text).toContain('laterz_tasks_finished_total');
      expect(res.text).toContain('laterz_claim_batch_size');
      expect(res.text).toContain('laterz_job_duration_seconds');
      expect(res.text).toMatch(/laterz_queue_depth\{queue="e2e.ok",func="e2e.ok",state="ready"\} \d+/);
      expect((await c.anon.get('/metrics')).status).toBe(401);
    });
  });
});
