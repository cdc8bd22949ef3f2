import fc from 'fast-check';
import { Client } from 'pg';
import { TASK_SORTS, TaskSort } from '../../src/admin/dto/list-tasks.dto.js';
import { clearTasks } from '../factories/scheduler.factory.js';
import { createTestDatabase } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { clients } from './admin-client.js';

/**
 * Cursor pagination walks every row exactly once, in the order it promises, whatever the data:
 * random rows (ids of 1 to 5 digits, so a text order of ids differs from the numeric one; sort
 * values drawn from a few so that ties are common), random page sizes, every sort, both orders.
 */

const SORTS = Object.keys(TASK_SORTS) as TaskSort[];
const ORDERS = ['asc', 'desc'] as const;
/** Microseconds after this instant: timestamps that tie, and ones a microsecond apart. */
const EPOCH = '2026-01-01T00:00:00Z';
const MICROS = [0, 1, 2, 999_999, 1_000_000, 86_400_000_000];

interface Row {
  id: number;
  collection: 'a' | 'b';
  priority: number;
  failCount: number;
  attempt: number;
  created: number;
  modified: number;
}

/** The value of the sort column, as a number the JS side can compare exactly. */
const SORT_VALUE: Record<TaskSort, (r: Row) => number> = {
  id: (r) => r.id,
  dateCreated: (r) => r.created,
  dateModified: (r) => r.modified,
  priority: (r) => r.priority,
  failCount: (r) => r.failCount,
  attempt: (r) => r.attempt,
};

const rowArb: fc.Arbitrary<Row> = fc.record({
  id: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 99_999 })),
  collection: fc.constantFrom('a' as const, 'b' as const),
  priority: fc.integer({ min: 0, max: 9 }),
  failCount: fc.integer({ min: 0, max: 3 }),
  attempt: fc.integer({ min: 0, max: 3 }),
  created: fc.constantFrom(...MICROS),
  modified: fc.constantFrom(...MICROS),
});
const rowsArb = fc.uniqueArray(rowArb, { maxLength: 120, selector: (r) => r.id });
/** Mostly small pages (many of them per walk), sometimes up to the maximum. */
const pageSizeArb = fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 100 }));

async function withClient<T>(url: string, use: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return await use(db);
  } finally {
    await db.end();
  }
}

interface Page {
  status: number;
  body: { items: { id: string }[]; nextCursor: string | null; message?: string };
}

describe('cursor pagination (GET /api/tasks, GET /api/audit)', () => {
  let app: TestApp;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let c: ReturnType<typeof clients>;

  beforeAll(async () => {
    // Sessions in a zone of its own (+05:45): a timestamp key must round-trip whatever the session's TimeZone.
    database = await createTestDatabase();
    await withClient(database.url, (db) => db.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'Asia/Kathmandu'); END $$`));
    app = await startTestApp({ database, env: { ROLES: 'api', LOG_LEVEL: 'error' } });
    c = clients(app);
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  /** Every page of `path` in turn; fails on a page over the limit, a short page that is not the last, or a loop. */
  async function walk(path: string, query: Record<string, string | undefined>, limit: number, total: number): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; ; pages++) {
      if (pages > total + 1) throw new Error(`${path}: more pages than rows`);
      const params = new URLSearchParams({ limit: String(limit) });
      for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
      if (cursor) params.set('cursor', cursor);
      const res: Page = await c.viewer.get(`${path}?${params}`);
      if (res.status !== 200) throw new Error(`${path}?${params} answered ${res.status}: ${JSON.stringify(res.body)}`);
      expect(res.body.items.length).toBeLessThanOrEqual(limit);
      seen.push(...res.body.items.map((i) => i.id));
      cursor = res.body.nextCursor;
      if (!cursor) return seen;
      expect(res.body.items).toHaveLength(limit);
    }
  }

  it('runs its sessions in the zone the tests set', async () => {
    expect((await app.db.query('SHOW timezone')).rows[0].TimeZone).toBe('Asia/Kathmandu');
  });

  it('lists only NOT NULL columns as sort keys (a nullable one would need NULLs placed in the keyset)', async () => {
    const { rows } = await app.db.query<{ column_name: string; is_nullable: string }>(
      `SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'task' AND column_name = ANY($1)`,
      [Object.values(TASK_SORTS).map((s) => s.column)],
    );
    expect(rows.map((r) => [r.column_name, r.is_nullable]).sort()).toEqual(Object.values(TASK_SORTS).map((s) => [s.column, 'NO']).sort());
  });

  it('GET /api/tasks walks every row exactly once, in (sort column, id) order, on every sort and both orders', async () => {
    await fc.assert(
      fc.asyncProperty(
        rowsArb,
        fc.array(pageSizeArb, { minLength: SORTS.length * ORDERS.length, maxLength: SORTS.length * ORDERS.length }),
        fc.constantFrom(undefined, 'a', 'b'),
        async (rows, pageSizes, collection) => {
          await clearTasks(app.db);
          await app.db.query(
            `INSERT INTO task (id, collection, func, args, args_hash, priority, fail_count, attempt, date_created, date_modified)
             SELECT id, c, 'p.f', jsonb_build_object('id', id), sha256(id::text::bytea), p, fc, at,
                    $8::timestamptz + cr * interval '1 microsecond', $8::timestamptz + mo * interval '1 microsecond'
               FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::int[], $6::bigint[], $7::bigint[]) AS x(id, c, p, fc, at, cr, mo)`,
            [
              rows.map((r) => r.id),
              rows.map((r) => r.collection),
              rows.map((r) => r.priority),
              rows.map((r) => r.failCount),
              rows.map((r) => r.attempt),
              rows.map((r) => r.created),
              rows.map((r) => r.modified),
              EPOCH,
            ],
          );
          const listed = rows.filter((r) => collection === undefined || r.collection === collection);
          let i = 0;
          for (const sort of SORTS) {
            for (const order of ORDERS) {
              const sign = order === 'asc' ? 1 : -1;
              const key = SORT_VALUE[sort];
              const expected = [...listed].sort((x, y) => sign * (key(x) - key(y) || x.id - y.id)).map((r) => String(r.id));
              const seen = await walk('/api/tasks', { sort, order, collection }, pageSizes[i++], listed.length);
              expect([sort, order, seen]).toEqual([sort, order, expected]);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('GET /api/audit walks every row exactly once, in id order, both orders, with and without an action filter', async () => {
    const auditRow = fc.record({ id: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 99_999 })), action: fc.constantFrom('task.retry', 'task.cancel') });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(auditRow, { maxLength: 150, selector: (r) => r.id }),
        fc.tuple(pageSizeArb, pageSizeArb),
        fc.constantFrom(undefined, 'task.retry'),
        async (rows, [ascSize, descSize], action) => {
          await app.db.query('TRUNCATE audit_log');
          await app.db.query(
            `INSERT INTO audit_log (id, who, action, target, count) SELECT id, 'operator:t', a, '{}'::jsonb, 1 FROM unnest($1::bigint[], $2::text[]) AS x(id, a)`,
            [rows.map((r) => r.id), rows.map((r) => r.action)],
          );
          const listed = rows.filter((r) => action === undefined || r.action === action);
          const ascending = [...listed].sort((x, y) => x.id - y.id).map((r) => String(r.id));
          const descending = [...ascending].reverse();
          // Newest first is the default.
          expect(await walk('/api/audit', { action }, descSize, listed.length)).toEqual(descending);
          expect(await walk('/api/audit', { action, order: 'desc' }, descSize, listed.length)).toEqual(descending);
          expect(await walk('/api/audit', { action, order: 'asc' }, ascSize, listed.length)).toEqual(ascending);
        },
      ),
      { numRuns: 30 },
    );
  });
});
