import { Injectable } from '@nestjs/common';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
// @ts-expect-error: a plain JS fixture (an isolate boots it as a user's compiled handlers file)
import { IsolatedHandlers } from '../fixtures/isolated-handlers.mjs';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { DueScanService } from '../../src/maintenance/due/due-scan.service.js';
import { TaskMetrics } from '../../src/metrics/task-metrics.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { taskRow } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { lockHolder } from '../helpers/locks.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('isolated handlers');

/*
 * Issue 17, parts 2-4: handlers run in pooled worker threads or child processes. A hard timeout
 * ends a handler deaf to its signal (and no retry of it starts before); a crash, running out of
 * memory or process.exit fails its own task alone; args, results, logs, ctx.enqueue,
 * requireDependency and the soft timeout's signal work as in-process; isolates are reused, and
 * recycled after ISOLATE_MAX_TASKS.
 */

/** The worker's side of iso.via-service (its isolates run the fixture's, which injects TasksService). */
@Injectable()
class ViaServiceDeclaration {
  @TaskHandler('iso.via-service')
  viaService(): never {
    throw new Error('iso.via-service runs in an isolate, never here');
  }
}

const HANDLERS_FILE = fileURLToPath(new URL('../fixtures/isolated-handlers.mjs', import.meta.url));

type Mode = 'thread' | 'process';
const CASES: [Mode, (typeof TRANSPORTS)[number]][] = TRANSPORTS.flatMap((t) => [['thread', t] as [Mode, typeof t], ['process', t] as [Mode, typeof t]]);

describe.each(CASES)('isolated handlers (WORKER_ISOLATION=%s, %s transport)', (mode, transport) => {
  const prefix = testAmqpPrefix();
  let app: TestApp;
  let tasks: TasksService;
  let dir: string;

  const row = (id: string) => taskRow(app.db, id);
  const ended = (id: string) => waitFor(async () => {
    const r = await row(id);
    return ['success', 'broken', 'error'].includes(r.status as string) ? r : undefined;
  }, `task ${id} to end`, 30000);
  const succeeded = async (ids: string[]) => {
    for (const id of ids) expect((await ended(id)).status).toBe('success');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'laterz-isolation-'));
    app = await startTestApp({
      handlers: [IsolatedHandlers, ViaServiceDeclaration],
      env: {
        ROLES: 'worker,scheduler',
        WORKER_ISOLATION: mode,
        LATERZ_HANDLERS: HANDLERS_FILE,
        ISOLATE_KILL_GRACE_SECONDS: '1',
        // A timed-out try is retried by the default policy (timeout is in its retryBroken) after about
        // a second, when a due scan the test runs finds it due and its lock free.
        DISPATCH_MIN_AGE_SECONDS: '0',
        ...transportEnv(transport, prefix),
      },
    });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  it('args, result and log lines cross; the handler runs in another thread or process, reused from task to task', async () => {
    const results: { args: unknown; pid: number; thread: number }[] = [];
    for (const n of [1, 2, 3]) {
      const { id } = await tasks.enqueue('iso.echo', { n, text: 'héllo' });
      const r = await ended(id);
      expect(r.status).toBe('success');
      if (n === 1) expect(r.log).toContain('[info] echo of {"n":1,"text":"héllo"}');
      results.push(r.result as (typeof results)[number]);
    }
    expect(results.map((r) => r.args)).toEqual([1, 2, 3].map((n) => ({ n, text: 'héllo' })));
    if (mode === 'thread') expect(results.every((r) => r.pid === process.pid && r.thread !== threadId)).toBe(true);
    else expect(results.every((r) => r.pid !== process.pid)).toBe(true);
    // Pooled: one after the other, the three ran in one isolate.
    expect(new Set(results.map((r) => `${r.pid}/${r.thread}`)).size).toBe(1);
  });

  it('ctx.enqueue and requireDependency go through the worker', async () => {
    const made = await tasks.enqueue('iso.enqueue', { n: 7 });
    const needs = await tasks.enqueue('iso.needs', { n: 8 });
    await succeeded([made.id]);
    const { child } = (await row(made.id)).result as { child: string };
    await succeeded([child, needs.id]);
    expect(((await row(child)).result as { args: unknown }).args).toEqual({ from: made.id, n: 7 });
    expect((await row(needs.id)).result).toEqual({ parent: { parentOf: 8 } });
  });

  it('a provider that injects TasksService gets one through the worker: enqueue and get work, an operator action is refused by name', async () => {
    const { id } = await tasks.enqueue('iso.via-service', { n: 5 });
    await succeeded([id]);
    const r = (await row(id)).result as { child: string; seenFunc: string; refused: string };
    expect(r.seenFunc).toBe('iso.echo');
    expect(r.refused).toBe('TasksService.retryTask is not available in an isolated handler (enqueue, enqueueMany and get are): run it where laterz runs inline');
    await succeeded([r.child]);
    expect(((await row(r.child)).result as { args: unknown }).args).toEqual({ via: 'service', n: 5 });
  });

  it('errors keep their kind: TaskBroken is broken with its reason, an Error is error, a result that is not JSON is broken', async () => {
    const [broken, fails, notJson] = await Promise.all(['iso.broken', 'iso.fails', 'iso.not-json'].map((f) => tasks.enqueue(f, {})));
    expect(await ended(broken.id)).toMatchObject({ status: 'broken', broken_reason: 'bad_input', error: 'the input is not what this func takes' });
    expect(await ended(fails.id)).toMatchObject({ status: 'error', error: 'RangeError: failed on purpose' });
    expect(await ended(notJson.id)).toMatchObject({ status: 'broken', broken_reason: 'invalid_result' });
  });

  it('the soft timeout aborts the signal and lets the handler clean up; its isolate is not ended', async () => {
    const log = join(dir, `polite-${mode}-${transport}.log`);
    const { id } = await tasks.enqueue('iso.polite', { log });
    expect(await ended(id)).toMatchObject({ status: 'broken', broken_reason: 'timeout' });
    // Its outcome is written at the soft timeout; the clean-up comes once the handler has heard of it.
    await waitFor(async () => (await lockHolder(app, id)) === undefined, 'the handler to return');
    const cleaned = JSON.parse(readFileSync(log, 'utf8')) as { cleanedUpAfter: string; pid: number; thread: number };
    expect(cleaned.cleanedUpAfter).toBe('timed out after 0.3s');
    // The same isolate takes the next task: the soft timeout did not end it.
    const { id: next } = await tasks.enqueue('iso.echo', { after: 'polite' });
    const r = (await ended(next)).result as { pid: number; thread: number };
    expect([r.pid, r.thread]).toEqual([cleaned.pid, cleaned.thread]);
  });

  it('the hard timeout ends a busy loop: its lock is released only then, and bystanders finish', async () => {
    const spin = await tasks.enqueue('iso.spin', {});
    const bystanders = await Promise.all([1, 2, 3, 4].map((n) => tasks.enqueue('iso.echo', { bystander: n })));
    expect(await ended(spin.id)).toMatchObject({ status: 'broken', broken_reason: 'timeout' });
    await waitFor(async () => (await lockHolder(app, spin.id)) === undefined, 'the hard timeout to end the spinning isolate');
    await succeeded(bystanders.map((b) => b.id));
  });

  it('a retry never starts while the timed-out attempt still runs (execution log outside the task)', async () => {
    const log = join(dir, `deaf-${mode}-${transport}.log`);
    const { id } = await tasks.enqueue('iso.deaf', { log });
    await waitFor(async () => {
      await app.get(DueScanService).runOnce();
      await app.get(DispatcherService).runOnce();
      return (await row(id)).status === 'success';
    }, 'the retry to succeed after the hard timeout', 30000);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const secondStart = Number(lines.find(([what, attempt]) => what === 'start' && attempt === '2')![2]);
    const lastBeat = Math.max(...lines.filter(([what, attempt]) => what === 'beat' && attempt === '1').map((l) => Number(l[2])));
    expect(lines.filter(([what]) => what === 'beat').length).toBeGreaterThan(3);
    expect(lastBeat).toBeLessThan(secondStart);
  });

  const poison: [string, string, RegExp][] = [
    ['iso.oom', 'out_of_memory', /ran out of memory/],
    ['iso.exit', 'handler_exited', /exited with code 3/],
  ];
  if (mode === 'process') poison.push(['iso.segv', 'handler_crashed', /killed by SIGSEGV/], ['iso.abort', 'handler_crashed', /killed by SIGABRT/]);

  /** laterz_isolate_ends_total of the worker for one kind and how. */
  const ends = async (kind: string, how: string) => {
    const m = new RegExp(`^laterz_isolate_ends_total\\{mode="${kind}",how="${how}"\\} (\\d+)$`, 'm').exec(await app.get(TaskMetrics).scrape());
    return m ? Number(m[1]) : 0;
  };

  it.each(poison)('%s fails its own task (%s) while bystanders finish', async (func, reason, message) => {
    const kind = ['iso.segv', 'iso.abort'].includes(func) ? 'process' : mode;
    const endsBefore = await ends(kind, reason);
    const bad = await tasks.enqueue(func, {});
    const bystanders = await Promise.all([1, 2, 3, 4, 5].map((n) => tasks.enqueue('iso.echo', { beside: func, n })));
    const r = await ended(bad.id);
    expect(r).toMatchObject({ status: 'broken', broken_reason: reason });
    expect(r.error).toMatch(message);
    expect(await ends(kind, reason)).toBe(endsBefore + 1);
    await succeeded(bystanders.map((b) => b.id));
  });

  it('an error thrown in a timer the handler set fails that task and ends its isolate, nothing else', async () => {
    const bad = await tasks.enqueue('iso.timer-throws', {});
    const bystander = await tasks.enqueue('iso.echo', { beside: 'timer' });
    expect(await ended(bad.id)).toMatchObject({ status: 'error', error: expect.stringContaining('uncaught exception in the handler: TypeError: thrown in a timer the handler set') });
    await succeeded([bystander.id]);
  });
});

describe('isolates are recycled after ISOLATE_MAX_TASKS', () => {
  let app: TestApp;
  afterAll(() => app?.close());

  it('a thread serves at most 2 tasks, then another takes over', async () => {
    app = await startTestApp({
      handlers: [IsolatedHandlers],
      env: { ROLES: 'worker', WORKER_ISOLATION: 'thread', LATERZ_HANDLERS: HANDLERS_FILE, ISOLATE_MAX_TASKS: '2', WORKER_CONCURRENCY: '1' },
    });
    const tasks = app.get(TasksService);
    const threads: number[] = [];
    for (let n = 0; n < 6; n++) {
      const { id } = await tasks.enqueue('iso.echo', { n });
      const r = await waitFor(async () => {
        const t = await taskRow(app.db, id);
        return t.status === 'success' ? t : undefined;
      }, `echo ${n}`);
      threads.push((r.result as { thread: number }).thread);
    }
    expect(new Set(threads).size).toBe(3);
    expect(threads[0]).toBe(threads[1]);
    expect(threads[2]).toBe(threads[3]);
    expect(threads[1]).not.toBe(threads[2]);
  });
});

describe('ISOLATE_POOL_SIZE below WORKER_CONCURRENCY', () => {
  let app: TestApp;
  afterAll(() => app?.close());

  it("claimed tasks wait for the one isolate in turn, and each one's timeout starts when the isolate takes it", async () => {
    app = await startTestApp({
      handlers: [IsolatedHandlers, ViaServiceDeclaration],
      env: { ROLES: 'worker', WORKER_ISOLATION: 'thread', LATERZ_HANDLERS: HANDLERS_FILE, ISOLATE_POOL_SIZE: '1', WORKER_CONCURRENCY: '8' },
    });
    // Three naps of 600 ms with a 1 s timeout each: one after the other they take 1.8 s, which a
    // timeout counted from the claim would cut short.
    const handles = await app.get(TasksService).enqueueMany([1, 2, 3].map((n) => ({ func: 'iso.nap', args: { ms: 600, n } })));
    const rows = [];
    for (const h of handles) rows.push(await waitFor(async () => {
      const t = await taskRow(app.db, h.id);
      return ['success', 'broken', 'error'].includes(t.status as string) ? t : undefined;
    }, `nap ${h.id}`, 30000));
    expect(rows.map((r) => r.status)).toEqual(['success', 'success', 'success']);
    expect(new Set(rows.map((r) => (r.result as { thread: number }).thread)).size).toBe(1);
    // They ran one at a time: from the first start to the last finish, at least three naps.
    const starts = rows.map((r) => (r.date_started as Date).getTime());
    const ends = rows.map((r) => (r.date_finished as Date).getTime());
    expect(Math.max(...ends) - Math.min(...starts)).toBeGreaterThanOrEqual(1800);
  });
});

describe('isolation that cannot work stops the boot with a clear error', () => {
  it('an isolated func with no handlers files', async () => {
    await expect(startTestApp({ handlers: [IsolatedHandlers], env: { ROLES: 'worker', WORKER_ISOLATION: 'thread' } })).rejects.toThrow(
      /iso\.echo \(thread\).* run isolated, but no handlers files are known/,
    );
  });

  it('a handlers file that does not define the isolated func', async () => {
    const other = fileURLToPath(new URL('../fixtures/empty-handlers.mjs', import.meta.url));
    await expect(startTestApp({ handlers: [IsolatedHandlers], env: { ROLES: 'worker', WORKER_ISOLATION: 'process', LATERZ_HANDLERS: other } })).rejects.toThrow(
      /isolated func\(s\) iso\.echo, .*: no @TaskHandler of that name in the handlers files/,
    );
  });
});
