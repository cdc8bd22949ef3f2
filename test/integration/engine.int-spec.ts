import { Injectable } from '@nestjs/common';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { DependencyBroken, TaskBroken, TaskError } from '../../src/tasks/tasks.errors.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { waitFor } from '../helpers/databases.js';
import { finishedTask, taskRow } from '../factories/task.factory.js';

const calls: Record<string, number> = {};
const seen: Record<string, unknown> = {};

@Injectable()
class EngineHandlers {
  @TaskHandler('t.double')
  double(args: { n: number }) {
    calls.double = (calls.double ?? 0) + 1;
    return { n: args.n * 2 };
  }

  @TaskHandler('t.sum')
  sum(_args: unknown, deps: { left?: { n: number }; right?: { n: number } }) {
    return { total: (deps.left?.n ?? 0) + (deps.right?.n ?? 0) };
  }

  @TaskHandler('t.corrupt')
  corrupt() {
    throw new TaskBroken('corrupt_input', 'the file is corrupt');
  }

  @TaskHandler('t.flaky')
  flaky() {
    throw new TaskError('upstream said 503', { status: 503 });
  }

  @TaskHandler('t.inspect')
  inspect(args: { key: string }, deps: Record<string, unknown>) {
    seen[args.key] = deps.parent;
    return deps.parent instanceof DependencyBroken ? 'got-broken-value' : 'got-result';
  }

  @TaskHandler('t.dynamic')
  async dynamic(args: { n: number }, _deps: unknown, ctx: TaskContext) {
    const doubled = (await ctx.requireDependency('doubled', () => ctx.enqueue('t.double', { n: args.n }))) as { n: number };
    ctx.logger.info(`doubled is ${doubled.n}`);
    return { plusOne: doubled.n + 1 };
  }

  @TaskHandler('t.slow', { timeout: '300ms' })
  async slow(_args: unknown, _deps: unknown, ctx: TaskContext) {
    ctx.logger.info('starting a long wait');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      ctx.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()));
    });
  }

  @TaskHandler('t.chatty')
  chatty(args: { lines: number }, _deps: unknown, ctx: TaskContext) {
    for (let i = 0; i < args.lines; i++) ctx.logger.info(`line ${i} ${'x'.repeat(100)}`);
    return 'ok';
  }

  @TaskHandler('t.bad-result')
  badResult() {
    return { when: new Date() };
  }
}

describe('task engine (PostgreSQL transport)', () => {
  let app: TestApp;
  let tasks: TasksService;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [EngineHandlers], env: { TASK_LOG_MAX_BYTES: '2048' } });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
  });

  const row = (id: string) => taskRow(app.db, id);
  const final = (id: string) => finishedTask(app.db, id);

  it('passes a parent result to its child under the edge name', async () => {
    const a = await tasks.enqueue('t.double', { n: 20 });
    const b = await tasks.enqueue('t.double', { n: 1 });
    const c = await tasks.enqueue('t.sum', { id: 'diamond' }, { dependsOn: { left: a, right: b } });
    const done = await final(c.id);
    expect(done.status).toBe('success');
    expect(done.result).toEqual({ total: 42 });
  });

  it('treats {a:1,b:2} and {b:2,a:1} as one task', async () => {
    const x = await tasks.enqueue('t.double', { n: 5, tag: { a: 1, b: 2 } });
    const y = await tasks.enqueue('t.double', { tag: { b: 2, a: 1 }, n: 5 });
    expect(y.id).toBe(x.id);
    expect(y.created).toBe(false);
  });

  it('makes one row for 50 concurrent callers of one call', async () => {
    const handles = await Promise.all(Array.from({ length: 50 }, () => tasks.enqueue('t.double', { n: 777 })));
    expect(new Set(handles.map((h) => h.id)).size).toBe(1);
    expect(handles.filter((h) => h.created)).toHaveLength(1);
    const { rows } = await app.db.query(`SELECT count(*)::int AS n FROM task WHERE func = 't.double' AND args = '{"n":777}'`);
    expect(rows[0].n).toBe(1);
  });

  it('hands a broken parent to the child as a DependencyBroken value', async () => {
    const p = await tasks.enqueue('t.corrupt', { f: 1 });
    const c = await tasks.enqueue('t.inspect', { key: 'broken-parent' }, { dependsOn: { parent: p } });
    const done = await final(c.id);
    expect(done.status).toBe('success');
    expect(done.result).toBe('got-broken-value');
    expect((await row(p.id)).broken_reason).toBe('corrupt_input');
  });

  it('breaks a child whose parent is in error, and keeps a failed attempt', async () => {
    const p = await tasks.enqueue('t.flaky', { f: 1 });
    const pDone = await final(p.id);
    expect(pDone.status).toBe('error');
    expect(pDone.error).toContain('upstream said 503');
    expect(pDone.fail_count).toBe(1);
    const attempts = await app.db.query('SELECT * FROM task_attempt WHERE task_id = $1', [p.id]);
    expect(attempts.rows).toHaveLength(1);
    expect(attempts.rows[0].error).toContain('upstream said 503');
    const c = await tasks.enqueue('t.inspect', { key: 'error-parent' }, { dependsOn: { parent: p } });
    const cDone = await final(c.id);
    expect(cDone.status).toBe('broken');
    expect(cDone.broken_reason).toBe('dependency_has_error');
  });

  it('adds a missing dependency at run time through requireDependency', async () => {
    const t = await tasks.enqueue('t.dynamic', { n: 10 });
    const done = await final(t.id);
    expect(done.status).toBe('success');
    expect(done.result).toEqual({ plusOne: 21 });
    expect(done.log).toContain('doubled is 20');
    const edges = await app.db.query('SELECT name FROM task_dependency WHERE next_id = $1', [t.id]);
    expect(edges.rows.map((e) => e.name)).toEqual(['doubled']);
  });

  it('breaks a task that runs past its timeout', async () => {
    const t = await tasks.enqueue('t.slow', {});
    const done = await final(t.id);
    expect(done.status).toBe('broken');
    expect(done.broken_reason).toBe('timeout');
    expect(done.log).toContain('starting a long wait');
  });

  it('captures the log, keeping its tail under the cap', async () => {
    const t = await tasks.enqueue('t.chatty', { lines: 100 });
    const done = await final(t.id);
    expect(Buffer.byteLength(done.log)).toBeLessThanOrEqual(2048 + 64);
    expect(done.log).toContain('line 99');
    expect(done.log).not.toContain('line 0 ');
    expect(done.log).toContain('earlier lines dropped');
  });

  it('breaks a task whose handler returns a value that is not JSON', async () => {
    const t = await tasks.enqueue('t.bad-result', {});
    const done = await final(t.id);
    expect(done.status).toBe('broken');
    expect(done.broken_reason).toBe('invalid_result');
    expect(done.error).toContain('Date');
  });

  it('re-runs a finished task on retry and leaves it alone without', async () => {
    calls.double = 0;
    const t = await tasks.enqueue('t.double', { n: 31337 });
    await final(t.id);
    expect(calls.double).toBe(1);
    const again = await tasks.enqueue('t.double', { n: 31337 });
    expect(again.status).toBe('success');
    const retried = await tasks.retryTask(t.id);
    expect(retried.status).toBe('queued');
    await waitFor(async () => calls.double === 2, 'the retry to run');
    await final(t.id);
  });

  describe('bad input writes nothing', () => {
    const count = async () => (await app.db.query('SELECT count(*)::int AS n FROM task')).rows[0].n as number;

    it.each([
      ['an unknown func', () => tasks.enqueue('no.such.func', {}), /unknown task func "no.such.func"/],
      ['args that are not JSON', () => tasks.enqueue('t.double', { n: NaN }), /\$\.n is NaN/],
      ['args with undefined inside', () => tasks.enqueue('t.double', { n: undefined }), /\$\.n is undefined/],
      ['args over the limit', () => tasks.enqueue('t.double', { blob: 'x'.repeat(70000) }), /over the limit of 65536 \(TASK_ARGS_MAX_BYTES\)/],
      ['a missing parent', () => tasks.enqueue('t.sum', { x: 1 }, { dependsOn: { left: '999999999' } }), /task 999999999 does not exist/],
      ['a bad collection name', () => tasks.enqueue('t.double', { n: 1 }, { collection: 'no spaces allowed' }), /collection name/],
    ])('rejects %s', async (_what, call, message) => {
      const before = await count();
      await expect(call()).rejects.toThrow(message);
      expect(await count()).toBe(before);
    });

    it('rejects a dependency from another collection', async () => {
      const other = await tasks.enqueue('t.double', { n: 1 }, { collection: 'other' });
      const before = await count();
      await expect(tasks.enqueue('t.sum', { cross: 1 }, { dependsOn: { left: other } })).rejects.toThrow(/collection "other", not of "default"/);
      expect(await count()).toBe(before);
    });

    it('rejects a cycle and writes none of the batch', async () => {
      const a = await tasks.enqueue('t.double', { n: 1001 }, { queueNow: false });
      const b = await tasks.enqueue('t.sum', { cyc: 'b' }, { dependsOn: { left: a }, queueNow: false });
      const before = await count();
      await expect(
        tasks.enqueueMany([
          { func: 't.double', args: { n: 4242 } },
          { func: 't.double', args: { n: 1001 }, dependsOn: { back: b } },
        ]),
      ).rejects.toThrow(/would close a cycle/);
      expect(await count()).toBe(before);
      const edges = await app.db.query('SELECT count(*)::int AS n FROM task_dependency WHERE next_id = $1', [a.id]);
      expect(edges.rows[0].n).toBe(0);
    });
  });
});
