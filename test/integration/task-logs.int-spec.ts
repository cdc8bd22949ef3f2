import { describe, expect, it, jest, beforeAll, afterAll, afterEach } from '@jest/globals';
import { Injectable, Logger } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { Db } from '../../src/database/db.js';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { FLUSH_LOGS_IF_STARTED } from '../../src/tasks/sql/live-log.sql.js';
import type { BulkContext, BulkTask, TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TaskFinisher } from '../../src/runner/finish/task-finisher.js';
import { TaskRegistry } from '../../src/tasks/task-registry.js';
import { TaskRunner } from '../../src/runner/run/task-runner.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { clients } from '../e2e/admin-client.js';
import { clearTasks, insertDetailedTasks, many } from '../factories/scheduler.factory.js';
import { finishedTask, insertTasks, taskRow } from '../factories/task.factory.js';
import { waitFor } from '../helpers/databases.js';
import { ServiceProcess, startWorkerProcess, stopIfRunning, workerProcessFuncs } from '../helpers/service-process.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

/** A promise with its resolve at hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Released by the test once it has read the log of the running task. */
let release = deferred();
let bulkBehaviour: 'throw' | 'partial' = 'throw';
/** tl.late: released by the test once the task's row is final; resolved once it has logged after that. */
let lateGate = deferred();
let lateLogged = deferred();

@Injectable()
class LogHandlers {
  @TaskHandler('tl.wait')
  async wait(_args: { secret: string }, _deps: unknown, ctx: TaskContext): Promise<string> {
    ctx.logger.info('step one');
    ctx.logger.warn('step one and a half');
    await release.promise;
    ctx.logger.info('step two');
    return 'done';
  }

  /** Ignores its abort: once cancelled, it keeps running and logs after its run has been finished. */
  @TaskHandler('tl.late')
  async late(_args: unknown, _deps: unknown, ctx: TaskContext): Promise<void> {
    ctx.logger.info('before the cancel');
    await lateGate.promise;
    ctx.logger.info('after the finish');
    lateLogged.resolve();
  }

  @TaskHandler('tl.bulk', { bulk: true })
  bulk(batch: BulkTask[], ctx: BulkContext): Map<string, boolean> {
    ctx.logger.info(`indexing ${batch.length}`);
    if (bulkBehaviour === 'throw') throw new Error('the search index is down');
    return new Map([[batch[0].id, true]]);
  }
}

describe('task logs (in-process)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [LogHandlers], env: { BULK_MAX_TASKS: '10' } });
  });
  afterAll(async () => {
    release.resolve();
    await app?.close();
  });

  it('the log of a running task is in its row and in GET /api/tasks/:id before the handler returns; the finish writes the whole log', async () => {
    release = deferred();
    const handle = await app.get(TasksService).enqueue('tl.wait', { secret: 'tl-wait-secret' });
    // The handler is waiting on `release`: only a write while it runs can put its first lines in the row.
    const running = await waitFor(async () => {
      const r = await taskRow(app.db, handle.id);
      return r.status === 'started' && r.log.includes('step one and a half') ? r : undefined;
    }, 'the running task log in its row');
    expect(running.log).toMatch(/\[info\] step one\n.*\[warn\] step one and a half$/);
    const res = await clients(app).op.get(`/api/tasks/${handle.id}`).expect(200);
    expect(res.body.task).toMatchObject({ status: 'started' });
    expect(res.body.task.log).toContain('[info] step one');

    release.resolve();
    const done = await finishedTask(app.db, handle.id);
    expect(done.status).toBe('success');
    expect(done.log.split('\n').map((l: string) => l.replace(/^\S+ /, ''))).toEqual(['[info] step one', '[warn] step one and a half', '[info] step two']);
  });

  it('a line logged by a handler after its run was finished (cancelled, timed out) is not watched again: no flush for it, ever', async () => {
    lateGate = deferred();
    lateLogged = deferred();
    const handle = await app.get(TasksService).enqueue('tl.late', {});
    await waitFor(async () => (await taskRow(app.db, handle.id)).log.includes('before the cancel'), 'the running task log in its row');
    expect(app.get(TaskRunner).cancel(handle.id)).toBe(true);
    expect((await finishedTask(app.db, handle.id)).broken_reason).toBe('cancelled');
    lateGate.resolve();
    await lateLogged.promise;
    // The finisher's live-log watch list (private): a task in it is flushed every second while its log is ahead of its row.
    const watched = (app.get(TaskFinisher) as unknown as { liveLogs: { watched: Map<string, unknown> } }).liveLogs.watched;
    expect([...watched.keys()]).not.toContain(handle.id);
  });

  describe('the flush statement', () => {
    let held: PoolClient | undefined;
    afterEach(async () => {
      await held?.query('ROLLBACK');
      held?.release();
      held = undefined;
    });

    it('writes only rows still started by the same attempt, and skips a row locked by a finish instead of waiting', async () => {
      const [running, finished, rerun, locked] = await insertTasks(app.db, [
        { func: 'tl.wait', status: 'started', attempt: 2 },
        { func: 'tl.wait', status: 'success', attempt: 2 },
        { func: 'tl.wait', status: 'started', attempt: 3 },
        { func: 'tl.wait', status: 'started', attempt: 2 },
      ]);
      await app.db.query(`UPDATE task SET log = 'as it was' WHERE id = ANY($1::bigint[])`, [[running, finished, rerun, locked]]);
      held = await app.db.connect();
      await held.query('BEGIN');
      await held.query('SELECT 1 FROM task WHERE id = $1 FOR UPDATE', [locked]);

      const { rows } = await app.db.query({
        text: FLUSH_LOGS_IF_STARTED.text,
        values: [[running, finished, rerun, locked], [2, 2, 2, 2], ['flushed 1', 'flushed 2', 'flushed 3', 'flushed 4']],
      });
      expect(rows.map((r: { id: string }) => r.id)).toEqual([running]);
      const logs = await app.db.query('SELECT id::text AS id, log FROM task WHERE id = ANY($1::bigint[]) ORDER BY id', [[running, finished, rerun, locked]]);
      expect(Object.fromEntries(logs.rows.map((r) => [r.id, r.log]))).toEqual({
        [running]: 'flushed 1',
        [finished]: 'as it was',
        [rerun]: 'as it was',
        [locked]: 'as it was',
      });
    });
  });

  describe('bulk batches', () => {
    const warned: unknown[][] = [];
    const logged: unknown[][] = [];
    beforeAll(() => {
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(function (this: Logger, ...args: unknown[]) {
        warned.push(args);
      });
      jest.spyOn(Logger.prototype, 'log').mockImplementation(function (this: Logger, ...args: unknown[]) {
        logged.push(args);
      });
    });
    afterAll(() => {
      jest.restoreAllMocks();
    });

    const runBatch = () => app.get(Db).session((session) => app.get(BulkRunnerService).runBatch(session, 'default', app.get(TaskRegistry).get('tl.bulk')!));

    it('a failed batch is one warning naming the func, the collection and how many tasks, never their args; ctx.logger lines are info', async () => {
      await clearTasks(app.db);
      bulkBehaviour = 'throw';
      warned.length = 0;
      logged.length = 0;
      const ids = await insertDetailedTasks(app.db, many(3, { func: 'tl.bulk', args: undefined }, (i) => ({ args: { secret: `bulk-secret-${i}` }, modifiedAgo: 100 - i })));
      expect(await runBatch()).toMatchObject({ ran: 3, errored: 3 });
      const bulkWarnings = warned.filter(([m]) => JSON.stringify(m).includes('tl.bulk'));
      expect(bulkWarnings).toHaveLength(1);
      expect(bulkWarnings[0][0]).toMatchObject({ func: 'tl.bulk', collection: 'default', tasks: 3, failed: 3, firstId: ids[0], error: 'Error: the search index is down' });
      expect(logged.filter(([m]) => JSON.stringify(m).includes('indexing 3'))).toEqual([[expect.objectContaining({ func: 'tl.bulk', collection: 'default', tasks: 3, msg: 'indexing 3' })]]);
      expect(JSON.stringify([...warned, ...logged])).not.toContain('bulk-secret');
    });

    it('a batch whose handler fails some tasks is one warning with the count', async () => {
      await clearTasks(app.db);
      bulkBehaviour = 'partial';
      warned.length = 0;
      await insertDetailedTasks(app.db, many(4, { func: 'tl.bulk' }, (i) => ({ modifiedAgo: 100 - i })));
      expect(await runBatch()).toMatchObject({ ran: 4, succeeded: 1, broken: 3 });
      const bulkWarnings = warned.filter(([m]) => JSON.stringify(m).includes('tl.bulk'));
      expect(bulkWarnings).toHaveLength(1);
      expect(bulkWarnings[0][0]).toMatchObject({ func: 'tl.bulk', collection: 'default', tasks: 4, failed: 3, error: 'the bulk handler did not report this task as done' });
    });
  });
});

describe('failed runs in the process log (a worker process)', () => {
  let api: TestApp;
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    api = await startTestApp({ handlers: [workerProcessFuncs('lg.fail')], env: { ROLES: 'api' } });
  }, 60000);
  afterAll(async () => {
    await stopIfRunning(worker, 'SIGTERM');
    await api?.close();
  }, 60000);

  it('each failed attempt is a warning with the task id, func, attempt and error (never the args); ctx.logger lines are info with taskId and func', async () => {
    worker = startWorkerProcess(api.url, { LOG_LEVEL: 'info' });
    const handle = await api.get(TasksService).enqueue('lg.fail', { secret: 'lg-fail-secret' });
    const proc = worker;
    const lines = () =>
      proc.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const warning = await waitFor(
      async () => {
        if (proc.hasExited()) throw new Error(`worker exited: ${proc.stderr}`);
        return lines().find((l) => l.level === 40 && l.taskId === handle.id);
      },
      'the warning of the failed attempt',
      30000,
    );
    expect(warning).toMatchObject({ taskId: handle.id, func: 'lg.fail', attempt: 1, status: 'error', error: 'Error: lg.fail failed on purpose' });
    const said = lines().filter((l) => l.taskId === handle.id && l.msg === 'about to fail');
    expect(said).toEqual([expect.objectContaining({ level: 30, func: 'lg.fail' })]);
    expect(proc.stdout + proc.stderr).not.toContain('lg-fail-secret');
  }, 60000);
});
