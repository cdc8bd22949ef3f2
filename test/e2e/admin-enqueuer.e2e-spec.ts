import { INestApplication, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Pool } from 'pg';
import request from 'supertest';
import { tokenId } from '../../src/admin/admin-tokens.js';
import { LaterzModule, TaskHandler } from '../../src/index.js';
import { createTestDatabase } from '../helpers/databases.js';
import { userSettings } from '../helpers/scratch.js';
import { startTestApp, TEST_TOKENS, TestApp } from '../helpers/test-app.js';
import { clients, concretePath, Method, registeredRoutes, snapshot } from './admin-client.js';

// The enqueuer token role (issue 16, part 6): a producer that enqueues and reads, and may not
// retry, cancel, purge or pause. Walks every route the app registers, as admin-security does.

const ENQUEUER = 'test-enqueuer-token-0123456789';
const READ = new Set(['get', 'head', 'options']);
const PUBLIC = /^\/(health\/|docs($|\/))/;

@Injectable()
class EnqueuerHandlers {
  @TaskHandler('enq.ok')
  ok() {
    return null;
  }
}

describe('the enqueuer token role', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;
  let enqueuer: ReturnType<ReturnType<typeof clients>['with']>;

  beforeAll(async () => {
    app = await startTestApp({
      handlers: [EnqueuerHandlers],
      // No worker: what an enqueuer enqueues stays for the test to see.
      env: { ROLES: 'api', ADMIN_TOKENS: `operator:${TEST_TOKENS.operator},enqueuer:${ENQUEUER},viewer:${TEST_TOKENS.viewer}`, LOG_LEVEL: 'error' },
    });
    c = clients(app);
    enqueuer = c.with(ENQUEUER);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('enqueues (201, get-or-create), and its audit row names the enqueuer', async () => {
    const created = await enqueuer.post('/api/tasks', { func: 'enq.ok', args: { n: 1 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ func: 'enq.ok', created: true });
    const again = await enqueuer.post('/api/tasks', { func: 'enq.ok', args: { n: 1 } });
    expect(again.body).toMatchObject({ id: created.body.id, created: false });

    const { rows } = await app.db.query("SELECT who FROM audit_log WHERE action = 'task.enqueue' ORDER BY id");
    expect(rows.map((r) => r.who)).toEqual([`enqueuer:${tokenId(ENQUEUER)}`, `enqueuer:${tokenId(ENQUEUER)}`]);
    // An enqueuer reads what it enqueued.
    const inspected = await enqueuer.get(`/api/tasks/${created.body.id}`);
    expect(inspected.status).toBe(200);
    expect(inspected.body.task).toMatchObject({ id: created.body.id, func: 'enq.ok' });
  });

  it('reads every route a viewer reads, and gets 403 naming the operator role on every other change, before anything is validated or written', async () => {
    const { rows } = await app.db.query("SELECT id FROM task WHERE func = 'enq.ok' LIMIT 1");
    const id = rows[0]?.id ?? (await enqueuer.post('/api/tasks', { func: 'enq.ok', args: { n: 2 } })).body.id;
    const before = await snapshot(app.db);
    const refused: string[] = [];
    for (const { method, path } of registeredRoutes(app)) {
      if (PUBLIC.test(path)) continue;
      const url = concretePath(path, { id: String(id) });
      if (READ.has(method)) {
        const res = await enqueuer.call(method as Method, url);
        if (![200, 400, 404].includes(res.status)) throw new Error(`${method.toUpperCase()} ${path} answered ${res.status} to an enqueuer`);
        continue;
      }
      if (method === 'post' && path === '/api/tasks') continue;
      const res = await enqueuer.call(method as Method, url, { anything: 'at all' });
      expect({ route: `${method.toUpperCase()} ${path}`, status: res.status }).toEqual({ route: `${method.toUpperCase()} ${path}`, status: 403 });
      expect(res.body).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        message: `an enqueuer token can only enqueue and read: ${method.toUpperCase()} needs an operator token`,
      });
      refused.push(`${method.toUpperCase()} ${path}`);
    }
    expect(refused).toEqual(
      expect.arrayContaining([
        'POST /api/tasks/retry',
        'POST /api/tasks/cancel',
        'DELETE /api/tasks',
        'POST /api/tasks/:id/retry',
        'POST /api/tasks/:id/cancel',
        'PATCH /api/collections/:name',
      ]),
    );
    expect(await snapshot(app.db)).toEqual(before);
  });

  it('may not re-run a finished task through the enqueue (retry: true is a retry: 403), as an operator may', async () => {
    const created = await enqueuer.post('/api/tasks', { func: 'enq.ok', args: { n: 'rerun' } });
    await app.db.query(`UPDATE task SET status = 'success' WHERE id = $1`, [created.body.id]);
    const before = await snapshot(app.db);
    const res = await enqueuer.post('/api/tasks', { func: 'enq.ok', args: { n: 'rerun' }, retry: true });
    expect(res.status).toBe(403);
    expect(res.body.message).toBe('an enqueuer token can only enqueue and read: retry: true needs an operator token');
    expect(await snapshot(app.db)).toEqual(before);
    // Without retry the enqueue finds the finished task and leaves it as it is.
    expect((await enqueuer.post('/api/tasks', { func: 'enq.ok', args: { n: 'rerun' }, retry: false })).body).toMatchObject({ id: created.body.id, status: 'success' });
    const rerun = await c.op.post('/api/tasks', { func: 'enq.ok', args: { n: 'rerun' }, retry: true });
    expect(rerun.body).toMatchObject({ id: created.body.id, status: 'queued' });
  });

  it('still refuses a viewer the enqueue, naming the roles that may; an operator still may', async () => {
    const before = await snapshot(app.db);
    const res = await c.viewer.post('/api/tasks', { func: 'enq.ok', args: { n: 3 } });
    expect(res.status).toBe(403);
    expect(res.body.message).toBe('a viewer token can only read: POST needs an enqueuer or operator token');
    expect(await snapshot(app.db)).toEqual(before);
    expect((await c.op.post('/api/tasks', { func: 'enq.ok', args: { n: 3 } })).status).toBe(201);
  });

  it('says in the OpenAPI document what each role may do', async () => {
    const doc = (await c.anon.get('/docs/json')).body;
    expect(doc.info.description).toMatch(/an enqueuer token also enqueues \(POST \/api\/tasks\)/);
    expect(doc.paths['/api/tasks'].post.description).toMatch(/enqueuer token is enough/);
    expect(doc.components.securitySchemes.bearer.description).toMatch(/an enqueuer token also enqueues/);
  });
});

describe('the enqueuer token role in an app of its own (LaterzModule, the admin API under a prefix)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Pool;
  let nest: INestApplication;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Pool({ connectionString: database.url, max: 2, options: `-c search_path=${userSettings.dbSchema}` });
    @Module({ providers: [EnqueuerHandlers] })
    class ProducerModule {}
    @Module({
      imports: [
        LaterzModule.forRoot({
          roles: [],
          database: { url: database.url },
          schema: userSettings.dbSchema,
          transport: 'postgres',
          api: { prefix: 'laterz', tokens: [{ role: 'enqueuer', token: ENQUEUER }] },
          settings: { DISPATCH_INTERVAL_SECONDS: 86400, BULK_INTERVAL_SECONDS: 86400, STATS_INTERVAL_SECONDS: 86400 },
        }),
        ProducerModule,
      ],
    })
    class ProducerApp {}
    nest = await NestFactory.create(ProducerApp, { logger: ['error'], abortOnError: false });
    await nest.init();
  });
  afterAll(async () => {
    await nest?.close();
    await db?.end();
    await database?.drop();
  });

  it('enqueues and reads under the prefix; a retry is 403 naming the operator role', async () => {
    const http = nest.getHttpServer();
    const as = (req: request.Test) => req.set('Authorization', `Bearer ${ENQUEUER}`);
    const created = await as(request(http).post('/laterz/api/tasks')).send({ func: 'enq.ok', args: {} });
    expect(created.status).toBe(201);
    expect((await as(request(http).get(`/laterz/api/tasks/${created.body.id}`))).status).toBe(200);
    const before = await db.query('SELECT status, attempt FROM task WHERE id = $1', [created.body.id]);
    const retry = await as(request(http).post(`/laterz/api/tasks/${created.body.id}/retry`)).send({});
    expect(retry.status).toBe(403);
    expect(retry.body.message).toBe('an enqueuer token can only enqueue and read: POST needs an operator token');
    expect((await db.query('SELECT status, attempt FROM task WHERE id = $1', [created.body.id])).rows).toEqual(before.rows);
  });
});
