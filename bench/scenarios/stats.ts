import { StatsService } from '../../src/maintenance/stats/stats.service.js';
import { SAVE_STATS, SEQSCAN_OFF, STATS_COUNTS, STATS_OLDEST_PENDING, STATS_REASONS, STATS_RECENT } from '../../src/maintenance/stats/sql/stats.sql.js';
import { withDatabase } from '../lib/databases.js';
import { progress } from '../lib/harness.js';
import { round } from '../lib/stats.js';
import type { Scenario } from './scenario.js';
import { BULK_FUNC, COLLECTIONS, explainAll, Explained, FUNCS, seedTaskTable, startScheduler, statusCounts, tableRows, timedMs, VERSION } from './task-table.js';

function statsStatements(): Explained[] {
  const c = 'bench-c1';
  const funcs = [...FUNCS, BULK_FUNC];
  return [
    {
      label: 'counts by func × status, outdated, bytes (enable_seqscan off, as the service runs it)',
      statement: STATS_COUNTS,
      values: [c, funcs, funcs.map(() => VERSION)],
      setup: { statement: SEQSCAN_OFF, values: [] },
    },
    { label: 'finished in the last 1/5/60 min, p50/p95', statement: STATS_RECENT, values: [c, funcs] },
    { label: 'top broken reasons and error messages', statement: STATS_REASONS, values: [c, funcs, 1000] },
    { label: 'oldest pending', statement: STATS_OLDEST_PENDING, values: [c, funcs] },
    { label: 'save', statement: SAVE_STATS, values: [c, '{}', 0] },
  ];
}

/**
 * One StatsService.runOnce() (saveFor of each of the five collections, one after the other) on a
 * seeded table; each collection's own time is the duration_ms saveFor records.
 */
export const stats: Scenario = {
  name: 'stats',
  description: 'StatsService.runOnce() (saveFor per collection) on a table of 1M tasks (10M with --large)',
  async run({ options, laterz }) {
    const rows = tableRows(options);
    return withDatabase(options, 'stats', async (db) => {
      await laterz.install(db.url);
      const seedSeconds = await seedTaskTable(db, rows);
      const mix = await statusCounts(db);
      const plans = await explainAll(db, options, `plans-stats${options.large ? '-10m' : ''}.txt`, statsStatements());

      const app = await startScheduler(db);
      try {
        const service = app.app.get(StatsService, { strict: false });
        const run = await timedMs(() => service.runOnce());
        if (run.result.skipped || run.result.errors > 0) throw new Error(`stats run: ${JSON.stringify(run.result)}`);
        const perCollection: Record<string, number> = {};
        for (const c of COLLECTIONS) perCollection[c] = (await service.get(c))?.durationMs ?? NaN;
        const slowest = Math.max(...Object.values(perCollection));
        progress(`stats run: ${round(run.ms)} ms for ${run.result.collections} collections; saveFor each: ${JSON.stringify(perCollection)}`);
        return {
          metric: 'stats-run-ms',
          value: round(run.ms),
          unit: 'ms',
          better: 'lower',
          runs: [round(run.ms)],
          also: [
            {
              label: 'slowest saveFor (one collection)',
              metric: 'saveFor-ms',
              value: round(slowest),
              unit: 'ms',
              note: `${Math.round(rows / COLLECTIONS.length).toLocaleString('en-US')} rows per collection`,
            },
          ],
          params: {
            rows,
            collections: COLLECTIONS.length,
            mix,
            seedSeconds: round(seedSeconds),
            method: 'in-process ROLES=scheduler app; wall time of runOnce() over every collection (plus the empty `default` one)',
          },
          details: { perCollectionMs: perCollection, plans },
        };
      } finally {
        await app.shutdown();
      }
    });
  },
};
