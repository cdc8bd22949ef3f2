import { Injectable } from '@nestjs/common';
import { Agent } from 'node:http';
import request from 'supertest';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { insertDetailedTasks } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { ServiceProcess, startWorkerProcess, stopIfRunning } from '../helpers/service-process.js';
import { startTestApp, TestApp, TEST_TOKENS } from '../helpers/test-app.js';
import { clients } from './admin-client.js';

/** Handlers that wait for the test to open their gate (or for their AbortSignal). */
const gates = new Map<string, () => void>();
const aborted = new Map<string, unknown>();

@Injectable()
class WorkerHandlers {
  @TaskHandler('e2e.gate')
  async gate(args: { key: string }, _deps: unknown, ctx: TaskContext) {
    await new Promise<void>((resolve, reject) => {
      gates.set(args.key, resolve);
      ctx.signal.addEventListener(
        'abort',
        () => {
          aborted.set(args.key, ctx.signal.reason);
          reject(ctx.signal.reason as Error);
        },
        { once: true },
      );
    });
    return 'released';
  }
}

const ADVISORY_LOCKS = `
  SELECT l.objid::bigint::text AS id FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objsubid = 1
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND l.objid::bigint = $1::bigint`;

describe('admin API with a worker: retries that race, cancels that abort', () => {
  let app: TestApp;
  let c: ReturnType<typeof clients>;
  const row = async (id: string) => (await app.db.query('SELECT status::text AS status, attempt, broken_reason FROM task WHERE id = $1', [id])).rows[0];
  const locked = async (id: string) => (await app.db.query(ADVISORY_LOCKS, [id])).rowCount! > 0;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [WorkerHandlers], env: { ROLES: 'api,worker', LOG_LEVEL: 'error', WORKER_POLL_MS: '100' } });
    c = clients(app);
  });
  afterAll(async () => {
    for (const open of gates.values()) open();
    await app?.close();
  });

  it('1,000 concurrent retries of one failed task make exactly one new attempt', async () => {
    const [id] = await insertDetailedTasks(app.db, [{ func: 'e2e.gate', args: { key: 'thousand' }, status: 'error', error: 'first try failed', attempt: 1, failCount: 1 }]);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    try {
      const server = app.app.getHttpServer();
      const responses = await Promise.all(
        Array.from({ length: 1000 }, () => request(server).post(`/api/tasks/${id}/retry`).agent(agent).set('Authorization', `Bearer ${TEST_TOKENS.operator}`)),
      );
      const byStatus = new Map<number, number>();
      for (const r of responses) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
      // Each answer is a retry (the task was not running yet) or a 409 (it was).
      expect([...byStatus.keys()].filter((s) => s !== 200 && s !== 409)).toEqual([]);
      expect(byStatus.get(200)).toBeGreaterThanOrEqual(1);
      const audited = await app.db.query(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'task.retry' AND target->>'taskId' = $1`, [id]);
      expect(audited.rows[0].n).toBe(byStatus.get(200));
    } finally {
      agent.destroy();
    }
    // Released only once every retry has been answered: a retry after the finish would be a new, legitimate attempt.
    await waitFor(async () => gates.has('thousand'), 'the retried task to run');
    expect(await row(id)).toMatchObject({ status: 'started', attempt: 2 });
    gates.get('thousand')!();
    await waitFor(async () => (await row(id)).status === 'success', 'the task to succeed');
    expect(await row(id)).toMatchObject({ status: 'success', attempt: 2 });
    expect(aborted.has('thousand')).toBe(false);
  });

  it('cancels a running task: broken / cancelled, its handler aborted through the AbortSignal, its lock released', async () => {
    const made = await c.op.post('/api/tasks', { func: 'e2e.gate', args: { key: 'cancel-me' } });
    expect(made.status).toBe(201);
    const id: string = made.body.id;
    await waitFor(async () => gates.has('cancel-me') && (await locked(id)), 'the task to run');
    const res = await c.op.post(`/api/tasks/${id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ previous: 'started', status: 'broken', brokenReason: 'cancelled' });
    await waitFor(async () => aborted.has('cancel-me'), 'the handler to see its signal abort');
    expect((aborted.get('cancel-me') as Error).name).toBe('TaskCancelled');
    // The attempt's own finish (broken / cancelled too) is guarded by status = 'started': it changes nothing.
    await waitFor(async () => !(await locked(id)), 'the advisory lock to be released');
    expect(await row(id)).toEqual({ status: 'broken', attempt: 1, broken_reason: 'cancelled' });
    const attempts = await app.db.query('SELECT attempt, broken_reason FROM task_attempt WHERE task_id = $1', [id]);
    expect(attempts.rows).toEqual([{ attempt: 1, broken_reason: 'cancelled' }]);
  });

  it('counts finished tasks, run durations and claim batches in /metrics', async () => {
    const res = await c.viewer.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/laterz_tasks_finished_total\{func="e2e.gate",status="success"\} 1\b/);
    expect(res.text).toMatch(/laterz_task_duration_seconds_count\{func="e2e.gate",status="success"\} 1\b/);
    expect(res.text).toMatch(/laterz_claim_batch_size_count [1-9]\d*/);
    expect(res.text).toMatch(/laterz_tasks_claimed_total [2-9]\d*/);
    expect(res.text).toMatch(/laterz_queue_depth\{queue="e2e.gate",func="e2e.gate",state="ready"\} 0/);
  });
});

describe('cancel reaches a worker in another process', () => {
  let api: TestApp;
  let worker: ServiceProcess | undefined;

  beforeAll(async () => {
    api = await startTestApp({ env: { ROLES: 'api', LOG_LEVEL: 'error' } });
  });
  afterAll(async () => {
    await stopIfRunning(worker);
    await api?.close();
  });

  it('aborts the attempt there through NOTIFY; the hanging handler keeps its lock (issue 17: no other attempt while it runs)', async () => {
    worker = startWorkerProcess(api.url, { LOG_LEVEL: 'info', WORKER_POLL_MS: '100' });
    const proc = worker;
    // k.hang never returns and ignores its signal: only the runner's abort ends the attempt.
    const [id] = await insertDetailedTasks(api.db, [{ func: 'k.hang', args: { n: 'cancel' }, status: 'queued' }]);
    await api.db.query(`SELECT pg_notify('laterz_queued', '')`);
    await waitFor(
      async () => {
        if (proc.hasExited()) throw new Error(`worker process exited:\n${proc.stderr}`);
        const { rows } = await api.db.query(`SELECT status::text AS status FROM task WHERE id = $1`, [id]);
        return rows[0].status === 'started' && (await api.db.query(ADVISORY_LOCKS, [id])).rowCount! > 0;
      },
      'the worker process to run the task',
      30000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- worker stderr\n${proc.stderr}\n--- worker stdout\n${proc.stdout.slice(-4000)}`);
    });
    const res = await clients(api).op.post(`/api/tasks/${id}/cancel`);
    expect(res.body).toMatchObject({ previous: 'started' });
    await waitFor(async () => proc.stdout.includes(`task ${id}: running attempt cancelled`), 'the worker process to abort the attempt', 10000);
    const { rows } = await api.db.query(`SELECT status::text AS status, broken_reason FROM task WHERE id = $1`, [id]);
    expect(rows[0]).toEqual({ status: 'broken', broken_reason: 'cancelled' });
    // k.hang has not returned: its lock stays held, and the API shows the attempt abandoned but running.
    await waitFor(async () => proc.stdout.includes(`task ${id} (k.hang) attempt 1: cancelled by an operator, but its handler has not returned`), 'the worker to keep the lock', 10000);
    expect((await api.db.query(ADVISORY_LOCKS, [id])).rowCount).toBe(1);
    expect((await clients(api).viewer.get(`/api/tasks/${id}`)).body.task.running).toMatchObject({ abandoned: true, attempt: 1 });
  });
});
