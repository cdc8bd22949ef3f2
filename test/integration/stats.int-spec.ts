import { Injectable } from '@nestjs/common';
import { StatsService } from '../../src/maintenance/stats/stats.service.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { clearTasks, DetailedTaskRow, insertDetailedTasks, many } from '../factories/scheduler.factory.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

@Injectable()
class StatsHandlers {
  @TaskHandler('s.alpha', { version: 2 })
  alpha() {
    return null;
  }

  @TaskHandler('s.beta')
  beta() {
    return null;
  }
}

const A = 's.alpha';
const B = 's.beta';

/**
 * Collection stats-a, with every figure the stats job computes worked out by hand:
 * durations in the last hour are s.alpha [1, 2, 3, 4, 10] and s.beta [5, 6, 7].
 */
const SEED: DetailedTaskRow[] = [
  // s.alpha (current version 2)
  ...[100, 50, 10].map((modifiedAgo) => ({ func: A, status: 'pending', sizeBytes: 10, modifiedAgo })),
  ...many(2, { func: A, status: 'queued' }),
  { func: A, status: 'started', modifiedAgo: 5 },
  { func: A, status: 'deferred', modifiedAgo: 5 },
  { func: A, status: 'success', version: 2, sizeBytes: 1000, finishedAgo: 30, durationSeconds: 1 },
  { func: A, status: 'success', version: 2, sizeBytes: 1000, finishedAgo: 45, durationSeconds: 2 },
  { func: A, status: 'success', version: 2, sizeBytes: 1000, finishedAgo: 200, durationSeconds: 3 },
  { func: A, status: 'success', version: 2, sizeBytes: 1000, finishedAgo: 1800, durationSeconds: 4 },
  { func: A, status: 'success', version: 2, sizeBytes: 1000, finishedAgo: 7200, durationSeconds: 100 },
  // Outdated: finished at version 1.
  { func: A, status: 'success', version: 1, finishedAgo: 3000, durationSeconds: 10 },
  { func: A, status: 'success', version: 1, finishedAgo: 9000 },
  { func: A, status: 'broken', version: 1, brokenReason: 'corrupt_input', finishedAgo: 90_000 },
  ...many(2, { func: A, status: 'broken', version: 2, brokenReason: 'corrupt_input', finishedAgo: 90_000 }),
  { func: A, status: 'broken', version: 2, brokenReason: 'task_killed', finishedAgo: 90_000 },
  ...many(2, { func: A, status: 'error', failCount: 1, error: 'timeout talking to upstream' }),
  { func: A, status: 'error', failCount: 1, error: 'disk full' },
  // s.beta (version 0)
  { func: B, status: 'success', sizeBytes: 500, finishedAgo: 120, durationSeconds: 5 },
  { func: B, status: 'success', sizeBytes: 500, finishedAgo: 120, durationSeconds: 6 },
  { func: B, status: 'success', sizeBytes: 500, finishedAgo: 120, durationSeconds: 7 },
  ...many(2, { func: B, status: 'error', failCount: 2, error: 'timeout talking to upstream' }),
  { func: B, status: 'pending', modifiedAgo: 500 },
].map((r) => ({ ...r, collection: 'stats-a' }));

/** Another collection's rows: none of them may show in stats-a's figures. */
const NOISE: DetailedTaskRow[] = [
  ...many(4, { collection: 'stats-b', func: A, status: 'success', version: 2, sizeBytes: 99, finishedAgo: 10 }),
  { collection: 'stats-b', func: A, status: 'pending', modifiedAgo: 9999 },
  { collection: 'stats-b', func: B, status: 'broken', brokenReason: 'elsewhere', finishedAgo: 10 },
];

describe('stats job', () => {
  let app: TestApp;
  let stats: StatsService;

  beforeAll(async () => {
    app = await startTestApp({ handlers: [StatsHandlers], env: { ROLES: 'scheduler', COLLECTIONS: 'stats-a,stats-b' } });
    stats = app.get(StatsService);
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(async () => {
    await clearTasks(app.db);
  });

  it('computes counts, outdated, throughput, durations, bytes, reasons, oldest pending and ETA on a seeded table', async () => {
    await insertDetailedTasks(app.db, [...SEED, ...NOISE]);
    const s = await stats.saveFor('stats-a');

    expect(s.funcs[A].counts).toEqual({ pending: 3, queued: 2, started: 1, deferred: 1, success: 7, broken: 4, error: 3 });
    expect(s.funcs[B].counts).toEqual({ pending: 1, success: 3, error: 2 });
    expect(s.counts).toEqual({ pending: 4, queued: 2, started: 1, deferred: 1, success: 10, broken: 4, error: 5 });
    expect(s.total).toBe(27);

    expect(s.funcs[A].outdated).toBe(3);
    expect(s.funcs[B].outdated).toBe(0);
    expect(s.outdated).toBe(3);

    expect(s.funcs[A].bytes).toBe(5030);
    expect(s.funcs[B].bytes).toBe(1500);
    expect(s.bytes).toBe(6530);

    expect(s.funcs[A].finished).toEqual({ m1: 2, m5: 3, m60: 5 });
    expect(s.funcs[B].finished).toEqual({ m1: 0, m5: 3, m60: 3 });
    expect(s.finished).toEqual({ m1: 2, m5: 6, m60: 8 });

    // percentile_cont: p50 of [1,2,3,4,10] is 3, p95 is 4 + 0.8 × (10 - 4); of [5,6,7]: 6 and 6 + 0.9.
    expect(s.funcs[A].durationSeconds.p50).toBeCloseTo(3, 3);
    expect(s.funcs[A].durationSeconds.p95).toBeCloseTo(8.8, 3);
    expect(s.funcs[B].durationSeconds.p50).toBeCloseTo(6, 3);
    expect(s.funcs[B].durationSeconds.p95).toBeCloseTo(6.9, 3);

    expect(s.topReasons.slice(0, 2)).toEqual([
      { status: 'error', reason: 'timeout talking to upstream', count: 4 },
      { status: 'broken', reason: 'corrupt_input', count: 3 },
    ]);
    expect(s.topReasons.slice(2)).toEqual(
      expect.arrayContaining([
        { status: 'broken', reason: 'task_killed', count: 1 },
        { status: 'error', reason: 'disk full', count: 1 },
      ]),
    );
    expect(s.topReasons).toHaveLength(4);

    expect(s.oldestPendingSeconds).toBeGreaterThanOrEqual(500);
    expect(s.oldestPendingSeconds).toBeLessThan(530);

    // Unfinished (4 + 2 + 1 + 1 + 5) plus outdated 3, at 6 tasks per 5 minutes.
    expect(s.remaining).toBe(16);
    expect(s.etaSeconds).toBe(800);
  });

  it('saves the figures in collection_stats, one row per collection, read back through get()', async () => {
    expect(await stats.get('stats-a')).toBeNull();
    await insertDetailedTasks(app.db, SEED);
    const first = await stats.saveFor('stats-a');
    const saved = await stats.get('stats-a');
    expect(saved).not.toBeNull();
    expect(saved!.stats).toEqual(JSON.parse(JSON.stringify(first)));
    expect(saved!.durationMs).toBeGreaterThanOrEqual(0);
    const { rows } = await app.db.query<{ fresh: boolean }>(`SELECT computed_at > now() - interval '1 minute' AS fresh FROM collection_stats WHERE collection = 'stats-a'`);
    expect(rows).toEqual([{ fresh: true }]);

    // A later run replaces the row.
    await insertDetailedTasks(app.db, many(3, { collection: 'stats-a', func: B, status: 'pending', modifiedAgo: 1 }));
    await stats.saveFor('stats-a');
    const again = await stats.get('stats-a');
    expect((again!.stats as { counts: Record<string, number> }).counts.pending).toBe(7);
    expect(again!.computedAt.getTime()).toBeGreaterThanOrEqual(saved!.computedAt.getTime());
    expect((await app.db.query(`SELECT count(*)::int AS n FROM collection_stats WHERE collection = 'stats-a'`)).rows[0].n).toBe(1);
  });

  it('runOnce saves every collection, an empty one included', async () => {
    await insertDetailedTasks(app.db, [...SEED, ...NOISE]);
    const report = await stats.runOnce();
    expect(report).toEqual({ skipped: false, collections: 3, errors: 0 });
    const empty = (await stats.get('default'))!.stats;
    expect(empty).toMatchObject({ total: 0, counts: {}, outdated: 0, bytes: 0, remaining: 0, etaSeconds: 0, oldestPendingSeconds: null, topReasons: [], funcs: {} });
    const b = (await stats.get('stats-b'))!.stats as { total: number; finished: { m1: number }; topReasons: unknown[] };
    expect(b.total).toBe(6);
    expect(b.finished.m1).toBe(5);
    expect(b.topReasons).toEqual([{ status: 'broken', reason: 'elsewhere', count: 1 }]);
  });

  it('has no ETA while work remains and nothing finished in the last 5 minutes', async () => {
    await insertDetailedTasks(app.db, [
      { collection: 'stats-a', func: B, status: 'pending', modifiedAgo: 60 },
      { collection: 'stats-a', func: B, status: 'success', finishedAgo: 1200, durationSeconds: 2 },
    ]);
    const s = await stats.saveFor('stats-a');
    expect(s.remaining).toBe(1);
    expect(s.finished).toEqual({ m1: 0, m5: 0, m60: 1 });
    expect(s.etaSeconds).toBeNull();
    expect(s.funcs[B].durationSeconds).toEqual({ p50: 2, p95: 2 });
  });
});
