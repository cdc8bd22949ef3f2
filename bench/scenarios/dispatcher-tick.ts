import { QUEUED_COUNT } from '../../src/broker/sql/dequeue.sql.js';
import { DispatcherService, DispatchReport } from '../../src/maintenance/dispatch/dispatcher.service.js';
import {
  DISPATCH_PROBE,
  KILL_DEAD_STARTED,
  PEND_FAILED_TIER,
  PENDING_BEYOND,
  QUEUE_DEFERRED_OLDEST,
  QUEUE_OUTDATED,
  QUEUE_PENDING_NEWEST,
  QUEUE_PENDING_OLDEST,
  QUEUE_RESYNC,
  RESET_LOST_QUEUED,
} from '../../src/maintenance/dispatch/sql/dispatch.sql.js';
import { withDatabase } from '../lib/databases.js';
import { progress } from '../lib/harness.js';
import { median, round } from '../lib/stats.js';
import type { Scenario } from './scenario.js';
import {
  BULK_FUNC,
  COLLECTIONS,
  explainAll,
  Explained,
  FUNCS,
  RESYNC_FUNC,
  seedTaskTable,
  startScheduler,
  statusCounts,
  SYNC_COLLECTION,
  tableRows,
  timedMs,
  vacuum,
  VERSION,
} from './task-table.js';

/**
 * Every statement a tick can run, with the default settings' values, on one (collection, func):
 * the limits a refill tick of this table gives them (DISPATCH_TICK_MAX_ROWS 300: a quarter for the
 * dead, the rest over the 7 funcs with work).
 */
function dispatcherStatements(): Explained[] {
  const [c, f, limit, deadLimit] = ['bench-c1', 'bench.f1', Math.ceil((300 - 75) / 7), 75];
  const funcs = [...FUNCS.map((name) => ({ name, bulk: false })), { name: BULK_FUNC, bulk: true }];
  return [
    { label: 'dead started tasks of the tick (kill)', statement: KILL_DEAD_STARTED, values: [COLLECTIONS, funcs.map((x) => x.name), 60, deadLimit] },
    {
      label: 'probe of every (collection, func) pair',
      statement: DISPATCH_PROBE,
      values: [
        COLLECTIONS,
        COLLECTIONS.map((x) => x === SYNC_COLLECTION),
        funcs.map((x) => x.name),
        funcs.map(() => VERSION),
        funcs.map((x) => (x.name === RESYNC_FUNC ? 86400 : null)),
        funcs.map((x) => x.bulk),
        60,
        [5, 150, 5000],
        [3, 6, 9],
        false,
        120,
        60,
      ],
    },
    { label: 'queue depth (PostgreSQL transport)', statement: { name: QUEUED_COUNT.name, text: QUEUED_COUNT.text }, values: [f] },
    { label: 'pending, newest first', statement: QUEUE_PENDING_NEWEST, values: [c, f, limit, 60] },
    { label: 'pending backlog > 3 batches?', statement: PENDING_BEYOND, values: [c, f, 3 * 1000] },
    { label: 'pending, oldest first', statement: QUEUE_PENDING_OLDEST, values: [c, f, limit, 60] },
    { label: 'deferred, oldest first', statement: QUEUE_DEFERRED_OLDEST, values: [c, f, limit, 60] },
    { label: 'outdated versions', statement: QUEUE_OUTDATED, values: [c, f, limit, VERSION] },
    { label: 'resync (sync collection)', statement: QUEUE_RESYNC, values: [SYNC_COLLECTION, RESYNC_FUNC, limit, 86400] },
    { label: 'bulk func retry tier 1 (to pending)', statement: PEND_FAILED_TIER, values: [c, BULK_FUNC, limit, 5, 3] },
    { label: 'lost queued rows (AMQP transport)', statement: RESET_LOST_QUEUED, values: [c, f, 120] },
  ];
}

function describeTick(r: DispatchReport): Record<string, number> {
  return {
    ...r.queued,
    killed: r.killed,
    bulkRetried: r.bulkRetried,
    pairs: r.pairsVisited,
    pairsSkippedFullQueue: r.pairsSkippedFullQueue,
    pairsOverBudget: r.pairsOverBudget,
    errors: r.errors,
  };
}

/**
 * DispatcherService.runOnce() on a seeded table: the first tick, with every func's queue empty (it
 * queues a batch per collection × func until the func's queue is full, kills dead started tasks
 * and sends bulk failures back), and the steady tick of a busy system, once ticks find nothing
 * more to do (every pair looked at, its queue full). Default settings throughout.
 */
export const dispatcherTick: Scenario = {
  name: 'dispatcher-tick',
  description: 'DispatcherService.runOnce() on a table of 1M tasks (10M with --large)',
  async run({ options, laterz }) {
    const rows = tableRows(options);
    return withDatabase(options, 'dispatcher_tick', async (db) => {
      await laterz.install(db.url);
      const seedSeconds = await seedTaskTable(db, rows);
      const mix = await statusCounts(db);
      const plans = await explainAll(db, options, `plans-dispatcher${options.large ? '-10m' : ''}.txt`, dispatcherStatements());
      await vacuum(db);

      const app = await startScheduler(db);
      try {
        const dispatcher = app.app.get(DispatcherService, { strict: false });
        const refill = await timedMs(() => dispatcher.runOnce());
        progress(`refill tick: ${round(refill.ms)} ms, ${JSON.stringify(describeTick(refill.result))}`);
        // Then ticks until one finds nothing left to kill or send back (dead tasks and bulk
        // failures go a batch per tick); the one after that is the steady state of a busy system:
        // every queue full, every pair looked at and skipped.
        // Those ticks go on refilling (the budget left work over) on a warm scheduler: timed too.
        let between = 0;
        const busy: number[] = [];
        for (; between < 50; between++) {
          const { ms, result: r } = await timedMs(() => dispatcher.runOnce());
          if (r.killed === 0 && r.bulkRetried === 0 && Object.values(r.queued).every((n) => n === 0)) break;
          busy.push(ms);
        }
        if (busy.length > 0) progress(`refill ticks after the first: ${busy.length}, median ${round(median(busy))} ms, max ${round(Math.max(...busy))} ms`);
        const steady = await timedMs(() => dispatcher.runOnce());
        progress(`steady tick (after ${between + 1} more): ${round(steady.ms)} ms, ${JSON.stringify(describeTick(steady.result))}`);
        const queued = Object.values(refill.result.queued).reduce((a, b) => a + b, 0);
        // With the queues filled: the statements a steady tick runs.
        const after = await explainAll(
          db,
          options,
          `plans-dispatcher-after-refill${options.large ? '-10m' : ''}.txt`,
          dispatcherStatements().filter((e) => [KILL_DEAD_STARTED, DISPATCH_PROBE, QUEUED_COUNT].some((s) => s.name === e.statement.name)),
        );
        const changed = queued + refill.result.killed + refill.result.bulkRetried;
        return {
          metric: 'tick-ms',
          value: round(refill.ms),
          unit: 'ms',
          better: 'lower',
          runs: [round(refill.ms)],
          also: [
            {
              label: 'steady tick (nothing to do, queues full)',
              metric: 'tick-ms',
              value: round(steady.ms),
              unit: 'ms',
              runs: [round(steady.ms)],
              note: `${steady.result.pairsSkippedFullQueue} of ${steady.result.pairsVisited} pairs full, ${between + 1} ticks after the refill`,
            },
            ...(busy.length > 0
              ? [
                  {
                    label: 'refill ticks after the first (warm scheduler)',
                    metric: 'tick-ms',
                    value: round(median(busy)),
                    unit: 'ms',
                    runs: busy.map(round),
                    note: `median of ${busy.length} ticks that still changed rows; max ${round(Math.max(...busy))} ms`,
                  },
                ]
              : []),
            {
              label: 'refill tick, per row changed',
              metric: 'tick-us-per-row',
              value: round((refill.ms * 1000) / Math.max(1, changed)),
              unit: 'µs',
              note: `${queued} queued, ${refill.result.killed} killed, ${refill.result.bulkRetried} bulk retried`,
            },
          ],
          params: {
            rows,
            collections: COLLECTIONS.length,
            funcs: [...FUNCS, BULK_FUNC],
            mix,
            seedSeconds: round(seedSeconds),
            settings: 'defaults: DISPATCH_TICK_MAX_ROWS 300, DISPATCH_QUEUE_LIMIT 1000, DISPATCH_MIN_QUEUE_SIZE 200, DISPATCH_MIN_AGE_SECONDS 60, RETRY_TIERS 5:3,150:6,5000:9, DEAD_TASK_AFTER_SECONDS 60',
            method:
              'in-process ROLES=scheduler app, PostgreSQL transport; wall time of runOnce(): the first tick on the seeded table (all queues empty), and the steady tick once ticks find nothing more to do',
          },
          details: { refill: describeTick(refill.result), steady: describeTick(steady.result), ticksBetween: between + 1, plans, plansAfterRefill: after },
        };
      } finally {
        await app.shutdown();
      }
    });
  },
};
