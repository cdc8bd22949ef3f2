import { Injectable } from '@nestjs/common';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { insertDetailedTasks, insertEdges } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { startTestApp, TEST_TOKENS, TestApp } from '../helpers/test-app.js';
import { clients, concretePath, Method, registeredRoutes, RegisteredRoute, snapshot } from './admin-client.js';

@Injectable()
class BodyHandlers {
  @TaskHandler('e2e.ok')
  ok() {
    return null;
  }
}

/** The routes that take a JSON body, and whether it may be left out; every other route takes none. */
const BODY_ROUTES: Record<string, 'required' | 'optional'> = {
  'POST /api/tasks': 'required',
  'POST /api/tasks/retry': 'required',
  'POST /api/tasks/cancel': 'required',
  'POST /api/tasks/:id/retry': 'optional',
  'PATCH /api/collections/:name': 'required',
  'POST /api/tasks/delete': 'required',
  'PATCH /api/tasks/:id/run-after': 'required',
  'POST /api/schedules': 'required',
};
const PUBLIC = /^\/(health\/|docs($|\/))/;
/** What a careless client sends: the fields of a dry run, which a route must not run without. */
const DRY_RUN = '{"func":"e2e.ok","dryRun":true}';

describe('request bodies: only JSON, only where a route takes one, required where leaving it out is dangerous', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;
  let routes: RegisteredRoute[];
  let ids: string[];
  const key = (r: RegisteredRoute) => `${r.method.toUpperCase()} ${r.path}`;
  /** A path whose request would change rows if the body were ignored: ids, a collection and a purge filter that select the victims. */
  const pathOf = (r: RegisteredRoute) => {
    const path = concretePath(r.path, { id: ids[0], name: 'victims' });
    return r.method === 'delete' && r.path === '/api/tasks' ? `${path}?olderThanSeconds=60` : path;
  };

  beforeAll(async () => {
    app = await startTestApp({ handlers: [BodyHandlers], env: { ROLES: 'api', PIPELINE_ENABLED: 'true', LOG_LEVEL: 'error' } });
    c = clients(app);
    routes = registeredRoutes(app).filter((r) => !PUBLIC.test(r.path));
    ids = await insertDetailedTasks(app.db, [
      { func: 'e2e.ok', status: 'error', error: 'kaboom', collection: 'victims', modifiedAgo: 7200 },
      { func: 'e2e.ok', status: 'broken', brokenReason: 'timeout', collection: 'victims', modifiedAgo: 7200 },
      { func: 'e2e.ok', status: 'error', error: 'elsewhere', collection: 'bystanders', modifiedAgo: 7200 },
      { func: 'e2e.ok', status: 'queued', collection: 'victims' },
    ]);
    await insertEdges(app.db, [{ prev: ids[3], next: ids[0], name: 'in' }]);
    await app.db.query(`INSERT INTO collection (name) VALUES ('victims') ON CONFLICT DO NOTHING`);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('classifies every registered route that is not a read', () => {
    const writes = routes.filter((r) => !['get', 'head', 'options'].includes(r.method)).map(key);
    expect(writes.length).toBeGreaterThanOrEqual(7);
    // A new mutation must be added to BODY_ROUTES or to the ones that take no body on purpose.
    expect(writes.filter((k) => !(k in BODY_ROUTES)).sort()).toEqual(['DELETE /api/schedules/:name', 'DELETE /api/tasks', 'DELETE /api/tasks/:id', 'POST /api/tasks/:id/cancel']);
  });

  it('answers 415 to a body that is not JSON on every route that takes one, writing nothing', async () => {
    const before = await snapshot(app.db);
    const problems: string[] = [];
    for (const r of routes.filter((x) => key(x) in BODY_ROUTES)) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'application/octet-stream', 'multipart/form-data; boundary=x']) {
        const res = await c.op.call(r.method as Method, pathOf(r)).set('Content-Type', type).send(type.startsWith('application/x-www') ? 'func=e2e.ok&dryRun=true' : DRY_RUN);
        const expected = { statusCode: 415, error: 'Unsupported Media Type', message: 'the request body must be JSON (Content-Type: application/json)', fields: ['body'] };
        if (JSON.stringify(res.body) !== JSON.stringify(expected)) problems.push(`${key(r)} as ${type}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(app.db)).toEqual(before);
  });

  it('answers 400 to a body on every route that takes none, JSON or not, writing nothing', async () => {
    const before = await snapshot(app.db);
    const problems: string[] = [];
    for (const r of routes.filter((x) => !(key(x) in BODY_ROUTES))) {
      for (const type of ['application/json', 'text/plain']) {
        const res = await c.op.call(r.method as Method, pathOf(r)).set('Content-Type', type).send(DRY_RUN);
        const expected = { statusCode: 400, error: 'Bad Request', message: `${key(r)} takes no request body`, fields: ['body'] };
        if (JSON.stringify(res.body) !== JSON.stringify(expected)) problems.push(`${key(r)} as ${type}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(app.db)).toEqual(before);
  });

  it('refuses a required body that is left out (a retry by filter needs one: {} says "every failure" on purpose)', async () => {
    const before = await snapshot(app.db);
    const problems: string[] = [];
    for (const r of routes.filter((x) => BODY_ROUTES[key(x)] === 'required')) {
      for (const send of [() => c.op.call(r.method as Method, pathOf(r)), () => c.op.call(r.method as Method, pathOf(r)).set('Content-Type', 'application/json')]) {
        const res = await send();
        if (res.status !== 400 || !res.body.fields?.includes('body')) problems.push(`${key(r)} without a body: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(app.db)).toEqual(before);
    // An optional body may be left out: a retry of one task with the defaults.
    const one = await c.op.post(`/api/tasks/${ids[1]}/retry`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: ids[1], status: 'queued' });
  });

  it('answers 413 to a declared Content-Length over 64 KB at once, without waiting for the body', async () => {
    const before = await snapshot(app.db);
    const { port } = (app.app.getHttpServer() as Server).address() as AddressInfo;
    for (const [path, auth] of [
      ['/api/tasks/retry', `Bearer ${TEST_TOKENS.operator}`],
      ['/api/tasks', `Bearer ${TEST_TOKENS.operator}`],
      ['/api/tasks', undefined],
    ] as const) {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      let closed = false;
      socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
      socket.on('close', () => (closed = true));
      socket.on('error', () => undefined);
      // 10 MB announced, 9 bytes sent: a server that reads before it checks never answers.
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n` +
          `${auth ? `Authorization: ${auth}\r\n` : ''}\r\n{"func":`,
      );
      try {
        await waitFor(async () => answer.includes('\r\n\r\n') && answer, `an answer to the headers of POST ${path}`, 10000);
        expect(answer).toMatch(/^HTTP\/1\.1 413 /);
        expect(answer).toMatch(/\r\nconnection: close\r\n/i);
        expect(answer).toContain('the request body is over the limit of 64 KB');
        // The server hangs up instead of reading the 10 MB it refused.
        await waitFor(async () => closed, 'the server to close the connection', 10000);
      } finally {
        socket.destroy();
      }
    }
    expect(await snapshot(app.db)).toEqual(before);
  });
});
