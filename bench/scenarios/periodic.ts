import { Client } from 'pg';
import type { Running } from '../../src/bootstrap.js';
import { SchedulesService } from '../../src/schedules/schedules.service.js';
import { withDatabase } from '../lib/databases.js';
import { progress } from '../lib/harness.js';
import { round } from '../lib/stats.js';
import type { Scenario } from './scenario.js';
import { FUNCS, startScheduler } from './task-table.js';

const REPLICAS = 3;
const SCHEDULES = 10;

/** q-quantile of sorted numbers. */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * The figure: three scheduler replicas on one database, ten schedules firing every second
 * for two minutes (20 s with --quick). Each slot must have fired exactly once: one task per
 * (schedule, slot), every second from each schedule's first slot to its last present, none twice.
 * Also the firing delay (task created − slot), p50/p99.
 */
export const periodic: Scenario = {
  name: 'periodic',
  description: `${REPLICAS} scheduler replicas, ${SCHEDULES} schedules every second for 2 min (20 s with --quick): slots fired exactly once, firing delay`,
  async run({ options }) {
    const seconds = options.quick ? 20 : 120;
    return withDatabase(options, 'periodic', async (db) => {
      const apps: Running[] = [];
      try {
        // The database is migrated by the first replica; the others find it done.
        apps.push(await startScheduler(db, { PERIODIC_INTERVAL_MS: '200' }));
        apps.push(...(await Promise.all(Array.from({ length: REPLICAS - 1 }, () => startScheduler(db, { PERIODIC_INTERVAL_MS: '200' })))));
        const service = apps[0].app.get(SchedulesService, { strict: false });
        for (let i = 0; i < SCHEDULES; i++) await service.add({ name: `bench-every-1s-${i}`, func: FUNCS[i % FUNCS.length], args: { schedule: i }, every: '1s', missed: 'skip' });
        progress(`${SCHEDULES} schedules on ${REPLICAS} replicas, for ${seconds} s`);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        for (let i = 0; i < SCHEDULES; i++) await service.remove(`bench-every-1s-${i}`);
        // A run in flight at the removal finishes its transaction (or rolls it back) before the counts.
        await Promise.all(apps.map((a) => a.shutdown()));
        apps.length = 0;

        const client = new Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
        await client.connect();
        try {
          const { rows } = await client.query<{ schedule: number; slot: string; delay_ms: number }>(
            `SELECT (args->>'schedule')::int AS schedule, args->>'slot' AS slot,
                    extract(epoch FROM date_created - (args->>'slot')::timestamptz) * 1000 AS delay_ms
               FROM task WHERE args ? 'slot'`,
          );
          let expected = 0;
          let missing = 0;
          let duplicates = 0;
          for (let i = 0; i < SCHEDULES; i++) {
            const slots = rows.filter((r) => r.schedule === i).map((r) => Date.parse(r.slot)).sort((a, b) => a - b);
            duplicates += slots.length - new Set(slots).size;
            const span = slots.length === 0 ? 0 : (slots.at(-1)! - slots[0]) / 1000 + 1;
            expected += span;
            missing += span - new Set(slots).size;
          }
          const delays = rows.map((r) => Number(r.delay_ms)).sort((a, b) => a - b);
          const p50 = round(quantile(delays, 0.5));
          const p99 = round(quantile(delays, 0.99));
          progress(`${rows.length} tasks for ${expected} slots: ${missing} missing, ${duplicates} twice; firing delay p50 ${p50} ms, p99 ${p99} ms`);
          if (missing > 0 || duplicates > 0) throw new Error(`slots not fired exactly once: ${missing} missing, ${duplicates} fired twice`);
          return {
            metric: 'slots-fired-once',
            value: rows.length,
            unit: 'slots',
            better: 'higher',
            runs: [rows.length],
            p50,
            p99,
            also: [
              { label: 'slots missing', metric: 'slots-missing', value: missing, unit: 'slots' },
              { label: 'slots fired twice', metric: 'slots-duplicated', value: duplicates, unit: 'slots' },
              { label: 'firing delay p50 (task created − slot)', metric: 'firing-delay-p50', value: p50, unit: 'ms' },
              { label: 'firing delay p99', metric: 'firing-delay-p99', value: p99, unit: 'ms' },
            ],
            params: {
              replicas: REPLICAS,
              schedules: SCHEDULES,
              every: '1s',
              seconds,
              periodicIntervalMs: 200,
              method: `${REPLICAS} in-process ROLES=scheduler apps on one database, the periodic job on its timers; tasks counted by (schedule, slot) afterwards`,
            },
            details: { expectedSlots: expected },
          };
        } finally {
          await client.end();
        }
      } finally {
        await Promise.all(apps.map((a) => a.shutdown().catch(() => undefined)));
      }
    });
  },
};
