import { Injectable } from '@nestjs/common';
import request from 'supertest';
import { JOB_LOCK_CLASS, JobKey } from '../../src/maintenance/job-lock.js';
import { PeriodicService } from '../../src/maintenance/periodic/periodic.service.js';
import { Db } from '../../src/database/db.js';
import { SchedulesGateway } from '../../src/schedules/schedules.gateway.js';
import { SchedulesService } from '../../src/schedules/schedules.service.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { testAmqpPrefix } from '../helpers/scratch.js';
import { startTestApp, TEST_TOKENS, TestApp } from '../helpers/test-app.js';
import { deleteQueues, noteSkippedAmqp, TRANSPORTS, transportEnv } from '../helpers/transports.js';

noteSkippedAmqp('periodic schedules');

/** Every run of a periodic func, by func: the slots it ran for (one entry per run). */
const runs = new Map<string, string[]>();
const record = (func: string, args: { slot: string }) => runs.set(func, [...(runs.get(func) ?? []), args.slot]);

@Injectable()
class PeriodicHandlers {
  @TaskHandler('per.declared', { schedule: { every: '1s', args: { from: 'handler' } } })
  declared(args: { slot: string; from: string }) {
    record('per.declared', args);
    return args.from;
  }

  @TaskHandler('per.added')
  added(args: { slot: string }, _deps: unknown, ctx: TaskContext) {
    record('per.added', args);
    return ctx.taskId;
  }

  @TaskHandler('per.replicas')
  replicas(args: { slot: string }) {
    record('per.replicas', args);
    return null;
  }
}

const slotsOf = async (app: TestApp, func: string) =>
  (await app.db.query<{ slot: string }>(`SELECT args->>'slot' AS slot FROM task WHERE func = $1 ORDER BY 1`, [func])).rows.map((r) => r.slot);

/** Each whole second from the first slot to the last is there once, and none twice. */
function expectEverySecondOnce(slots: string[]): void {
  const times = slots.map((s) => Date.parse(s)).sort((a, b) => a - b);
  expect(new Set(times).size).toBe(times.length);
  for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(1000);
}

describe.each(TRANSPORTS)('periodic schedules (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  let app: TestApp;
  let schedules: SchedulesService;
  let periodic: PeriodicService;

  beforeAll(async () => {
    runs.clear();
    app = await startTestApp({ handlers: [PeriodicHandlers], env: { ROLES: 'api,worker,scheduler', ...transportEnv(transport, prefix) } });
    schedules = app.get(SchedulesService);
    periodic = app.get(PeriodicService);
  });
  afterAll(async () => {
    await app?.close();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  it('a schedule declared on a handler is recorded at boot and fires one task per slot, with its args and the slot', async () => {
    const [declared] = (await schedules.list()).filter((s) => s.name === 'per.declared');
    expect(declared).toMatchObject({ func: 'per.declared', everyMs: 1000, source: 'handler', missed: 'once', args: { from: 'handler' } });
    await waitFor(async () => {
      await periodic.runOnce();
      return (runs.get('per.declared') ?? []).length >= 3;
    }, 'three slots of per.declared to run');
    await schedules.remove('per.declared');
    const slots = await slotsOf(app, 'per.declared');
    expectEverySecondOnce(slots);
    const view = await request(app.app.getHttpServer()).get('/api/schedules').set('Authorization', `Bearer ${TEST_TOKENS.viewer}`);
    expect(view.status).toBe(200);
    expect(view.body.items.map((s: { name: string }) => s.name)).not.toContain('per.declared');
  });

  it('through the API: added (audited), listed with its next and last runs, refused when wrong, removed', async () => {
    const http = request(app.app.getHttpServer());
    const as = (r: request.Test, token = TEST_TOKENS.operator) => r.set('Authorization', `Bearer ${token}`);
    const bad = await as(http.post('/api/schedules')).send({ name: 'per-bad', func: 'per.added', cron: '61 * * * *' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ fields: ['cron'], message: expect.stringContaining('out of range') });
    const unknown = await as(http.post('/api/schedules')).send({ name: 'per-bad', func: 'per.nobody', every: '1s' });
    expect(unknown.status).toBe(400);
    expect((await as(http.post('/api/schedules'), TEST_TOKENS.viewer).send({ name: 'x', func: 'per.added', every: '1s' })).status).toBe(403);
    expect((await schedules.list()).map((s) => s.name)).not.toContain('per-bad');

    const added = await as(http.post('/api/schedules')).send({ name: 'per-added', func: 'per.added', every: '1s', args: { a: 1 } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ name: 'per-added', func: 'per.added', everyMs: 1000, source: 'api', lastRun: null, lastTaskId: null });
    await waitFor(async () => {
      await periodic.runOnce();
      return (runs.get('per.added') ?? []).length >= 2;
    }, 'two slots of per-added to run');
    const listed = (await as(http.get('/api/schedules'), TEST_TOKENS.viewer)).body.items.find((s: { name: string }) => s.name === 'per-added');
    expect(listed.lastRun).not.toBeNull();
    expect(Date.parse(listed.nextRun)).toBeGreaterThan(Date.parse(listed.lastRun));
    const last = await app.db.query(`SELECT args->>'slot' AS slot, collection FROM task WHERE id = $1`, [listed.lastTaskId]);
    expect(last.rows[0]).toEqual({ slot: new Date(listed.lastRun).toISOString(), collection: 'default' });

    expect((await as(http.delete('/api/schedules/per-added'))).body).toEqual({ name: 'per-added', removed: true });
    expect((await as(http.delete('/api/schedules/per-added'))).status).toBe(404);
    const audit = await app.db.query(`SELECT action FROM audit_log WHERE action LIKE 'schedule.%' ORDER BY id`);
    expect(audit.rows.map((r) => r.action)).toEqual(['schedule.add', 'schedule.remove']);
    expectEverySecondOnce(await slotsOf(app, 'per.added'));
  });

  it('after downtime: `once` runs one task for the missed slots, `skip` none', async () => {
    await schedules.add({ name: 'per-once', func: 'per.added', cron: '0 * * * *', args: { policy: 'once' }, missed: 'once' });
    await schedules.add({ name: 'per-skip', func: 'per.added', cron: '0 * * * *', args: { policy: 'skip' }, missed: 'skip' });
    // The schedulers were down for five hours.
    await app.db.query(`UPDATE schedule SET next_run = date_trunc('hour', now()) - interval '5 hours' WHERE name IN ('per-once', 'per-skip')`);
    const report = await periodic.runOnce();
    expect(report).toMatchObject({ skipped: false, missed: 2 });
    const fired = await app.db.query(`SELECT args->>'policy' AS policy, count(*)::int AS n FROM task WHERE func = 'per.added' AND args ? 'policy' GROUP BY 1`);
    expect(fired.rows).toEqual([{ policy: 'once', n: 1 }]);
    const after = await schedules.list();
    for (const s of after.filter((x) => x.name === 'per-once' || x.name === 'per-skip')) expect(s.nextRun.getTime()).toBeGreaterThan(Date.now());
    // Nothing is due any more: a second run fires nothing.
    expect(await periodic.runOnce()).toMatchObject({ fired: 0 });
    await schedules.remove('per-once');
    await schedules.remove('per-skip');
  });
});

describe.each(TRANSPORTS)('three scheduler replicas on one database (%s transport)', (transport) => {
  const prefix = testAmqpPrefix();
  let db: { url: string; drop: () => Promise<void> };
  let apps: TestApp[];

  beforeAll(async () => {
    runs.clear();
    db = await createTestDatabase();
    // The periodic job on its real timers, ticking several times per slot on each replica.
    const env = { ROLES: 'worker,scheduler', PERIODIC_INTERVAL_MS: '150', ...transportEnv(transport, prefix) };
    apps = await Promise.all([0, 1, 2].map(() => startTestApp({ handlers: [PeriodicHandlers], env, database: db })));
    for (const app of apps) await app.get(SchedulesService).remove('per.declared').catch(() => undefined);
  });
  afterAll(async () => {
    await Promise.all((apps ?? []).map((a) => a.close()));
    await db?.drop();
    if (transport === 'amqp') await deleteQueues(prefix);
  });

  it('without the job lock, replicas firing the same due slots at once write them once (the guarded UPDATE)', async () => {
    const service = apps[0].get(SchedulesService);
    // The job lock held here: the replicas' timers skip their runs, and the test fires by hand.
    const holder = await apps[0].db.connect();
    await holder.query('SELECT pg_advisory_lock($1, $2)', [JOB_LOCK_CLASS, JobKey.Periodic]);
    try {
      await service.add({ name: 'per-race', func: 'per.added', every: '1s', args: { race: true } });
      // Three slots due (inside the misfire grace), read once, fired by all three replicas together.
      await apps[0].db.query(`UPDATE schedule SET next_run = date_trunc('second', now()) - interval '2 seconds' WHERE name = 'per-race'`);
      const [row] = (await new SchedulesGateway(new Db(apps[0].db)).due(100)).filter((r) => r.name === 'per-race');
      const reports = apps.map(() => ({ skipped: false, fired: 0, missed: 0, full: 0, raced: 0, errors: 0 }));
      await Promise.all(apps.map((app, i) => app.get(PeriodicService)['fire'](row, reports[i])));
      expect(reports.map((r) => r.fired).sort()).toEqual([0, 0, 3]);
      expect(reports.map((r) => r.raced).sort()).toEqual([0, 1, 1]);
      const fired = await apps[0].db.query<{ slot: string }>(`SELECT args->>'slot' AS slot FROM task WHERE func = 'per.added' AND args ? 'race'`);
      expect(fired.rows).toHaveLength(3);
      expectEverySecondOnce(fired.rows.map((r) => r.slot));
      await service.remove('per-race');
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1, $2)', [JOB_LOCK_CLASS, JobKey.Periodic]);
      holder.release();
    }
  });

  it('fire each slot exactly once: one task and one run per slot, none missing', async () => {
    await apps[1].get(SchedulesService).add({ name: 'per-replicas', func: 'per.replicas', every: '1s' });
    await waitFor(async () => (runs.get('per.replicas') ?? []).length >= 6, 'six slots of per-replicas to run', 30_000);
    await apps[2].get(SchedulesService).remove('per-replicas');
    // What was fired before the removal runs: wait until every task has run.
    await waitFor(async () => (await slotsOf(apps[0], 'per.replicas')).length === (runs.get('per.replicas') ?? []).length, 'every fired slot to run');
    const slots = await slotsOf(apps[0], 'per.replicas');
    expectEverySecondOnce(slots);
    expect([...(runs.get('per.replicas') ?? [])].sort()).toEqual(slots);
  });
});
