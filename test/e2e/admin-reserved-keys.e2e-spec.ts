import { Injectable } from '@nestjs/common';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksModule } from '../../src/tasks/tasks.module.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { InvalidArgs } from '../../src/tasks/tasks.errors.js';
import { clearTasks } from '../factories/scheduler.factory.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { clients, Method, snapshot } from './admin-client.js';

/**
 * Keys that name a prototype (`__proto__`, `prototype`, `constructor`) or an inherited method
 * (`toString`, `hasOwnProperty`…): inside task args they are user data, stored exactly as sent; as
 * a field of a request they are unknown fields, refused with a 400 naming them. Never dropped
 * silently, never polluting a prototype.
 */

@Injectable()
class Handlers {
  @TaskHandler('e2e.ok')
  ok() {
    return null;
  }
}

/** Keys every plain object inherits, plus `prototype`: what class-transformer and Nest's pipe used to drop. */
const RESERVED = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__', '__lookupSetter__'];

/** Args as JSON text: an object literal cannot hold an own `__proto__` key, JSON.parse can. */
const ARGS_TEXTS = [
  '{"nested":{"__proto__":{"x":1},"keep":true}}',
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":1}',
  '{"a":[{"__proto__":null},{"constructor":"c"},{"toString":"t","valueOf":0,"hasOwnProperty":false}]}',
  '{"constructor":{"name":"x"}}',
];

describe('reserved keys: kept in task args, refused as request fields', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [Handlers], env: { ROLES: 'api', LOG_LEVEL: 'error', PIPELINE_ENABLED: 'true' } });
    c = clients(app);
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(async () => {
    await clearTasks(app.db);
  });
  afterEach(() => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  /** The stored args equal the sent JSON (jsonb equality: same keys, same values, at every level). */
  const storedAs = async (id: string, text: string) => (await app.db.query('SELECT args = $2::jsonb AS same, args::text AS args FROM task WHERE id = $1', [id, text])).rows[0];

  it.each(ARGS_TEXTS)('POST /api/tasks stores args %s exactly as sent', async (text) => {
    const res = await c.op.post('/api/tasks').type('json').send(`{"func":"e2e.ok","queueNow":false,"args":${text}}`);
    expect(res.status).toBe(201);
    const stored = await storedAs(res.body.id, text);
    expect([stored.args, stored.same]).toEqual([stored.args, true]);
    // The identity hashes the keys too: the same JSON is the same task, one key fewer is another.
    const again = await c.op.post('/api/tasks').type('json').send(`{"func":"e2e.ok","queueNow":false,"args":${text}}`);
    expect(again.body).toMatchObject({ id: res.body.id, created: false });
  });

  it('args that differ only by a __proto__ key are two tasks', async () => {
    const without = await c.op.post('/api/tasks').type('json').send('{"func":"e2e.ok","queueNow":false,"args":{"nested":{"keep":true}}}');
    const withProto = await c.op.post('/api/tasks').type('json').send('{"func":"e2e.ok","queueNow":false,"args":{"nested":{"__proto__":{"x":1},"keep":true}}}');
    expect([without.status, withProto.status]).toEqual([201, 201]);
    expect(withProto.body.created).toBe(true);
    expect(withProto.body.id).not.toBe(without.body.id);
  });

  it.each(['constructor', 'prototype', '__proto__', 'toString', 'hasOwnProperty'])('dependsOn {"%s": id} makes the edge under that name', async (name) => {
    const parent = await c.op.post('/api/tasks', { func: 'e2e.ok', args: { parent: name }, queueNow: false });
    const child = await c.op.post('/api/tasks').type('json').send(`{"func":"e2e.ok","queueNow":false,"args":{"child":1},"dependsOn":{${JSON.stringify(name)}:"${parent.body.id}"}}`);
    expect(child.status).toBe(201);
    const edges = await app.db.query('SELECT prev_id::text AS prev, name FROM task_dependency WHERE next_id = $1', [child.body.id]);
    expect(edges.rows).toEqual([{ prev: parent.body.id, name }]);
  });

  it('TasksService.enqueue stores args with such keys exactly, and refuses an object whose prototype is not a plain one', async () => {
    // The engine's own service (not the admin API's instance on the admin pool), as an app's code gets it.
    const tasks = app.app.select(TasksModule).get(TasksService, { strict: true });
    for (const text of ARGS_TEXTS) {
      const handle = await tasks.enqueue('e2e.ok', JSON.parse(text), { queueNow: false, collection: 'programmatic' });
      const stored = await storedAs(handle.id, text);
      expect([stored.args, stored.same]).toEqual([stored.args, true]);
    }
    const handle = await tasks.enqueue('e2e.ok', { ['__proto__']: { x: 1 }, keep: true }, { queueNow: false, collection: 'programmatic' });
    expect((await storedAs(handle.id, '{"__proto__":{"x":1},"keep":true}')).same).toBe(true);
    // A literal `__proto__:` sets the prototype: such an object is not JSON, and saying so beats storing `{}`.
    await expect(tasks.enqueue('e2e.ok', { nested: { __proto__: { x: 1 } } }, { queueNow: false })).rejects.toThrow(InvalidArgs);
    await expect(tasks.enqueue('e2e.ok', { nested: { __proto__: { x: 1 } } }, { queueNow: false })).rejects.toThrow(/\$\.nested/);
  });

  describe('a request field named after a prototype key or an Object method is an unknown field', () => {
    /** Every route with a validated body or query, with a valid base that selects nothing. */
    const ROUTES: { method: Method; path: string; body?: Record<string, unknown>; query?: string }[] = [
      { method: 'get', path: '/api/tasks' },
      { method: 'get', path: '/api/tasks/1' },
      { method: 'get', path: '/api/tasks/1/graph' },
      { method: 'get', path: '/api/tasks/1/progress' },
      { method: 'post', path: '/api/tasks', body: { func: 'e2e.ok', args: {}, collection: 'never-made', queueNow: false } },
      { method: 'post', path: '/api/tasks/retry', body: { collection: 'never-made' } },
      { method: 'post', path: '/api/tasks/cancel', body: { collection: 'never-made' } },
      { method: 'delete', path: '/api/tasks', query: 'collection=never-made&olderThanSeconds=60' },
      { method: 'post', path: '/api/tasks/999999/retry', body: {} },
      { method: 'post', path: '/api/tasks/999999/cancel' }, // takes no body (a body is refused whole)
      { method: 'get', path: '/api/queues' },
      { method: 'get', path: '/api/collections' },
      { method: 'get', path: '/api/collections/default/stats' },
      { method: 'patch', path: '/api/collections/never-made', body: { process: true } },
      { method: 'get', path: '/api/audit' },
      { method: 'get', path: '/metrics' },
      { method: 'get', path: '/api/collections/demo/search', query: 'q=trust' },
      { method: 'get', path: '/api/collections/demo/files' },
    ];

    it('in a query string: 400 naming it, nothing written', async () => {
      const before = await snapshot(app.db);
      const problems: string[] = [];
      for (const route of ROUTES) {
        for (const key of RESERVED) {
          const query = [route.query, `${encodeURIComponent(key)}=1`].filter(Boolean).join('&');
          const res = await c.op.call(route.method, `${route.path}?${query}`, route.body);
          // (/metrics sends its errors as JSON text under its text/plain content type.)
          const fields = (res.body.fields ?? (res.type === 'text/plain' ? (JSON.parse(res.text) as { fields?: string[] }).fields : undefined)) as string[] | undefined;
          if (res.status !== 400 || !fields?.includes(key)) problems.push(`${route.method.toUpperCase()} ${route.path}?${query} -> ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
        }
      }
      expect(problems).toEqual([]);
      expect(await snapshot(app.db)).toEqual(before);
    });

    it('in a body: 400 naming it, nothing written', async () => {
      const before = await snapshot(app.db);
      const problems: string[] = [];
      for (const route of ROUTES.filter((r) => r.body)) {
        for (const key of RESERVED) {
          const rest = JSON.stringify(route.body).slice(1, -1);
          const body = `{${JSON.stringify(key)}:1${rest ? `,${rest}` : ''}}`;
          const url = route.query ? `${route.path}?${route.query}` : route.path;
          const res = await c.op.call(route.method, url).type('json').send(body);
          if (res.status !== 400 || !res.body.fields?.includes(key)) problems.push(`${route.method.toUpperCase()} ${route.path} ${body} -> ${res.status} ${JSON.stringify(res.body).slice(0, 120)}`);
        }
      }
      expect(problems).toEqual([]);
      expect(await snapshot(app.db)).toEqual(before);
    });
  });
});
