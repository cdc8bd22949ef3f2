import { Injectable } from '@nestjs/common';
import request from 'supertest';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { DueScanService } from '../../src/maintenance/due/due-scan.service.js';
import { ExpiryService } from '../../src/maintenance/expiry/expiry.service.js';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { OnTaskFailure, type TaskFailure } from '../../src/tasks/failure-hooks.js';
import type { BulkTask, TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { QueueFull, TaskBroken, TaskHasDependents, TaskNotFound } from '../../src/tasks/tasks.errors.js';
import { waitFor } from '../helpers/databases.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { startTestApp, TEST_TOKENS, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('expiry, queue caps, delete by identity and failure hooks');

const ran = new Set<string>();
const failures: TaskFailure[] = [];
let hookCalls = 0;

@Injectable()
class TimeHandlers {
  @TaskHandler('tc.run')
  run(_args: unknown, _deps: unknown, ctx: TaskContext) {
    ran.add(ctx.taskId);
    return null;
  }

  /** Tasks expire 50 ms after their enqueue unless told otherwise. */
  @TaskHandler('tc.short-lived', { expireIn: '50ms' })
  shortLived(_args: unknown, _deps: unknown, ctx: TaskContext) {
    ran.add(ctx.taskId);
    return null;
  }

  /** At most 3 waiting. */
  @TaskHandler('tc.capped', { maxQueued: 3 })
  capped() {
    return null;
  }

  /** One attempt: no retry, whatever fails it. */
  @TaskHandler('tc.once', { retry: { attempts: 1 } })
  once() {
    return null;
  }

  /** Two attempts in all, the retry due at once: an error fails for good on its second attempt. */
  @TaskHandler('tc.breaks', { retry: { attempts: 2, backoff: { type: 'fixed', delay: 0 } } })
  breaks(args: { how: string }) {
    if (args.how === 'broken') throw new TaskBroken('bad_input', 'the input is corrupt');
    if (args.how === 'error') throw new Error('upstream 503');
    return 'fine';
  }
}

@Injectable()
class BulkHandlers {
  @TaskHandler('tc.bulk', { bulk: true })
  bulk(batch: BulkTask[]) {
    return new Map(batch.map((t) => [t.id, (t.args as { ok: boolean }).ok]));
  }
}

@Injectable()
class Reporters {
  @OnTaskFailure()
  collect(failure: TaskFailure) {
    hookCalls++;
    failures.push(failure);
  }

  @OnTaskFailure()
  async crash() {
    hookCalls++;
    throw new Error('the reporter is down');
  }
}

describe.each(TRANSPORTS)('expiry, queue caps, delete by identity, failure hooks (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  let app: TestApp;
  let tasks: TasksService;
  const row = async (id: string) =>
    (await app.db.query(`SELECT status::text AS status, broken_reason, attempt, fail_count, error FROM task WHERE id = $1`, [id])).rows[0] as
      | { status: string; broken_reason: string; attempt: number; fail_count: number; error: string }
      | undefined;
  const http = () => request(app.app.getHttpServer());
  const operator = (r: request.Test) => r.set('Authorization', `Bearer ${TEST_TOKENS.operator}`);

  beforeAll(async () => {
    ran.clear();
    failures.length = 0;
    hookCalls = 0;
    app = await startTestApp({
      handlers: [TimeHandlers, BulkHandlers, Reporters],
      // Bulk funcs keep the tiers: one error is the last under these, a failure hook runs for it.
      env: { ROLES: 'api,worker,scheduler', RETRY_TIERS: '60:1', ...transportEnv(transport, prefix) },
    });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  describe('expiry', () => {
    it('a queued task past its deadline is expired by the claim and never runs; one in time runs', async () => {
      const late = await tasks.enqueue('tc.run', { expiry: 'late' }, { expiresAt: new Date(Date.now() - 1000) });
      const inTime = await tasks.enqueue('tc.run', { expiry: 'in-time' }, { expireIn: '1h' });
      expect(late.status).toBe('queued');
      await waitFor(async () => (await row(late.id))?.status === 'broken' && (await row(inTime.id))?.status === 'success', 'the claim to expire one and run the other');
      expect(await row(late.id)).toMatchObject({ status: 'broken', broken_reason: 'expired', attempt: 0 });
      expect(ran.has(late.id)).toBe(false);
      // Expired is final: the failure hooks hear of it.
      await waitFor(async () => failures.some((f) => f.taskId === late.id), 'the expiry to reach the failure hooks');
      expect(failures.find((f) => f.taskId === late.id)).toMatchObject({ func: 'tc.run', status: 'broken', reason: 'expired', error: 'not started by its deadline (expiresAt)' });
      expect(ran.has(inTime.id)).toBe(true);
    });

    it('the sweep expires waiting tasks past the func default deadline (expireIn); an explicit one overrides it', async () => {
      const waiting = await tasks.enqueue('tc.short-lived', { sweep: 1 }, { queueNow: false });
      const longer = await tasks.enqueue('tc.short-lived', { sweep: 2 }, { queueNow: false, expireIn: '1h' });
      await waitFor(async () => {
        await app.get(ExpiryService).runOnce();
        return (await row(waiting.id))?.status === 'broken';
      }, 'the sweep to expire the waiting task');
      expect(await row(waiting.id)).toMatchObject({ broken_reason: 'expired', attempt: 0 });
      expect(await row(longer.id)).toMatchObject({ status: 'pending' });
      expect(ran.has(waiting.id)).toBe(false);
      await waitFor(async () => failures.some((f) => f.taskId === waiting.id), 'the sweep to reach the failure hooks');
      expect(failures.find((f) => f.taskId === waiting.id)).toMatchObject({ func: 'tc.short-lived', status: 'broken', reason: 'expired' });
      expect(failures.some((f) => f.taskId === longer.id)).toBe(false);
    });

    it('refuses expiresAt and expireIn together, and a bad duration, naming them', async () => {
      await expect(tasks.enqueue('tc.run', { bad: 1 }, { expiresAt: new Date(), expireIn: '1m' })).rejects.toThrow(/expiresAt or expireIn, not both/);
      const res = await operator(http().post('/api/tasks')).send({ func: 'tc.run', args: { bad: 2 }, expireIn: 'soon' });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('expireIn');
    });
  });

  describe('queue caps', () => {
    it('an enqueue past the cap throws QueueFull and writes nothing; a found task is not counted again', async () => {
      const first = await tasks.enqueueMany([0, 1].map((i) => ({ func: 'tc.capped', args: { i }, queueNow: false })));
      // Two wait: a batch of two more would make four.
      const err = await tasks.enqueueMany([2, 3].map((i) => ({ func: 'tc.capped', args: { i }, queueNow: false }))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueFull);
      expect(err).toMatchObject({ cap: 3, depth: 2 });
      const count = async () => (await app.db.query(`SELECT count(*)::int AS n FROM task WHERE func = 'tc.capped'`)).rows[0].n as number;
      expect(await count()).toBe(2);
      await tasks.enqueue('tc.capped', { i: 2 }, { queueNow: false });
      // The same calls again: found, not created, not refused.
      expect((await tasks.enqueue('tc.capped', { i: 0 }, { queueNow: false })).id).toBe(first[0].id);
      const res = await operator(http().post('/api/tasks')).send({ func: 'tc.capped', args: { i: 9 }, queueNow: false });
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ statusCode: 429, cap: 3, depth: 3, message: expect.stringContaining('maxQueued') });
      expect(await count()).toBe(3);
    });

    it('concurrent enqueues never take the queue past its cap', async () => {
      await app.db.query(`DELETE FROM task WHERE func = 'tc.capped'`);
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => tasks.enqueue('tc.capped', { race: i }, { queueNow: false })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof QueueFull)).toBe(true);
      expect((await app.db.query(`SELECT count(*)::int AS n FROM task WHERE func = 'tc.capped'`)).rows[0].n).toBe(3);
    });
  });

  describe('delete by identity', () => {
    it('removes a task nothing depends on, refuses one others depend on (service and API, audited)', async () => {
      const parent = await tasks.enqueue('tc.run', { del: 'parent' }, { queueNow: false });
      const child = await tasks.enqueue('tc.run', { del: 'child' }, { queueNow: false, dependsOn: { parent } });
      await expect(tasks.deleteTask('tc.run', { del: 'parent' })).rejects.toBeInstanceOf(TaskHasDependents);
      const refused = await operator(http().post('/api/tasks/delete')).send({ func: 'tc.run', args: { del: 'parent' } });
      expect(refused.status).toBe(409);
      expect(refused.body.message).toContain('1 other task(s) depend on it');
      expect(await row(parent.id)).toBeDefined();

      const gone = await operator(http().post('/api/tasks/delete')).send({ func: 'tc.run', args: { del: 'child' } });
      expect(gone.status).toBe(200);
      expect(gone.body).toEqual({ id: child.id, collection: 'default', func: 'tc.run', status: 'pending' });
      expect(await row(child.id)).toBeUndefined();
      expect(await tasks.deleteTask('tc.run', { del: 'parent' })).toMatchObject({ id: parent.id });
      await expect(tasks.deleteTask('tc.run', { del: 'parent' })).rejects.toBeInstanceOf(TaskNotFound);
      expect((await operator(http().post('/api/tasks/delete')).send({ func: 'tc.run', args: { del: 'parent' } })).status).toBe(404);
      // The same call can be enqueued again: a new task.
      expect((await tasks.enqueue('tc.run', { del: 'parent' }, { queueNow: false })).created).toBe(true);
      const audit = await app.db.query(`SELECT target FROM audit_log WHERE action = 'task.delete'`);
      expect(audit.rows.map((r) => r.target.taskId)).toEqual([child.id]);
    });
  });

  describe('failure hooks', () => {
    it('run for a task the dispatcher finds dead with no retry left by its policy, not for one it retries', async () => {
      const last = await tasks.enqueue('tc.once', { dead: 'last' }, { queueNow: false });
      const retried = await tasks.enqueue('tc.breaks', { how: 'dead' }, { queueNow: false });
      // Their worker is gone: started long ago, their locks held by nobody.
      await app.db.query(
        `UPDATE task SET status = 'started', attempt = 1, worker = 'gone:1:x', date_started = now() - interval '1 day', date_modified = now() - interval '1 day' WHERE id = ANY($1::bigint[])`,
        [[last.id, retried.id]],
      );
      await waitFor(async () => {
        await app.get(DispatcherService).runOnce();
        return failures.some((f) => f.taskId === last.id);
      }, 'the kill to reach the failure hooks');
      expect(failures.find((f) => f.taskId === last.id)).toMatchObject({ func: 'tc.once', status: 'broken', reason: 'task_killed', attempt: 1, failCount: 1 });
      // The other one's policy retries it (the due scan queues it): it succeeds, and no hook ran for it.
      await waitFor(async () => {
        await app.get(DueScanService).runOnce();
        return (await row(retried.id))?.status === 'success';
      }, 'the killed task to be retried by its policy');
      expect(failures.some((f) => f.taskId === retried.id)).toBe(false);
    });

    it('run for a task that fails for good by its retry policy, with its id, func, attempt and error; a hook that throws changes nothing', async () => {
      const broken = await tasks.enqueue('tc.breaks', { how: 'broken' });
      const error = await tasks.enqueue('tc.breaks', { how: 'error' });
      const fine = await tasks.enqueue('tc.breaks', { how: 'fine' });
      // The broken one is for good (its reason is not in retryBroken); the error has an attempt left:
      // its finish wrote a retry time, and no hook runs for it.
      await waitFor(async () => failures.some((f) => f.taskId === broken.id) && (await row(error.id))?.fail_count === 1 && (await row(fine.id))?.status === 'success', 'the first failures');
      expect(failures.some((f) => f.taskId === error.id)).toBe(false);
      const retrying = (await app.db.query(`SELECT run_after IS NOT NULL AS waits FROM task WHERE id = $1`, [error.id])).rows[0] as { waits: boolean };
      expect(retrying.waits).toBe(true);
      // Its second attempt (queued by the due scan) is its last: the hook runs for that one.
      await waitFor(async () => {
        await app.get(DueScanService).runOnce();
        return failures.some((f) => f.taskId === error.id);
      }, 'the last failure to reach the hook');
      const byId = new Map(failures.map((f) => [f.taskId, f]));
      expect(byId.get(broken.id)).toEqual({
        taskId: broken.id,
        collection: 'default',
        func: 'tc.breaks',
        attempt: 1,
        status: 'broken',
        reason: 'bad_input',
        error: 'the input is corrupt',
        failCount: 1,
      });
      expect(byId.get(error.id)).toMatchObject({ status: 'error', attempt: 2, failCount: 2, error: expect.stringContaining('upstream 503') });
      expect(failures.filter((f) => f.taskId === error.id)).toHaveLength(1);
      expect(byId.has(fine.id)).toBe(false);
      // The throwing hook ran too, and the rows are as the runs left them.
      expect(hookCalls).toBe(2 * failures.length);
      expect(await row(broken.id)).toMatchObject({ status: 'broken', broken_reason: 'bad_input', fail_count: 1 });
      expect(await row(error.id)).toMatchObject({ status: 'error', fail_count: 2 });
    });

    it('run for the tasks of a bulk batch that failed for good, not for those that succeeded', async () => {
      const [good, bad] = await tasks.enqueueMany([{ func: 'tc.bulk', args: { ok: true } }, { func: 'tc.bulk', args: { ok: false } }]);
      await waitFor(async () => {
        await app.get(BulkRunnerService).runOnce();
        return failures.some((f) => f.taskId === bad.id);
      }, 'the bulk failure to reach the hook');
      expect(failures.find((f) => f.taskId === bad.id)).toMatchObject({ func: 'tc.bulk', status: 'broken', reason: 'bulk_item_failed', attempt: 1, failCount: 1 });
      expect(failures.some((f) => f.taskId === good.id)).toBe(false);
      expect(await row(good.id)).toMatchObject({ status: 'success' });
    });
  });
});
