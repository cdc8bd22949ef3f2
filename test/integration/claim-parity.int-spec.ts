import { Pool } from 'pg';
import { afterFastPath, parentsByChild, planClaim } from '../../src/runner/claim/claim-decisions.js';
import { WorkerSession } from '../../src/runner/worker-session.js';
import { LOCK_DELIVERED, LockedRow, PARENTS_FOR_SHARE, ParentRow } from '../../src/tasks/sql/claim.sql.js';
import { CLAIM_DELIVERED, ClaimRow } from '../../src/tasks/sql/claim-runnable.sql.js';
import { DetailedTaskRow, insertDetailedTasks, insertEdges } from '../factories/scheduler.factory.js';
import { createTestDatabase } from '../helpers/databases.js';
import { userSettings } from '../helpers/scratch.js';

/** Funcs this "worker" registers and claims: `f` at version 2, `g` at version 0. */
const versions = new Map([
  ['f', 2],
  ['g', 0],
]);
const claims = new Set(versions.keys());

/** A delivered row (pending `f` at its current version unless told otherwise) and its parents. */
const CASES: { name: string; row?: Partial<DetailedTaskRow>; parents?: DetailedTaskRow[] }[] = [
  { name: 'pending, no parents' },
  { name: 'queued', row: { status: 'queued' } },
  { name: 'deferred, no parents left', row: { status: 'deferred' } },
  { name: 'success at the current version', row: { status: 'success' } },
  { name: 'broken at the current version', row: { status: 'broken' } },
  { name: 'success at an older version', row: { status: 'success', version: 1 } },
  { name: 'started', row: { status: 'started', attempt: 1 } },
  { name: 'error', row: { status: 'error' } },
  { name: 'func not served here', row: { func: 'nobody', version: 0 } },
  { name: 'func g, parent done', row: { func: 'g', version: 0 }, parents: [{ func: 'f', status: 'success', version: 2 }] },
  { name: 'parent success', parents: [{ func: 'f', status: 'success', version: 2 }] },
  { name: 'parent broken', parents: [{ func: 'f', status: 'broken', version: 2 }] },
  { name: 'parent success at an older version', parents: [{ func: 'f', status: 'success', version: 1 }] },
  { name: 'parent pending', parents: [{ func: 'f', version: 2 }] },
  { name: 'parent started', parents: [{ func: 'f', status: 'started', version: 2, attempt: 1 }] },
  { name: 'parent deferred', parents: [{ func: 'g', status: 'deferred', version: 0 }] },
  { name: 'parent in error', parents: [{ func: 'f', status: 'error', version: 2 }] },
  { name: 'parent of a func served elsewhere, any version', parents: [{ func: 'elsewhere', status: 'success', version: 9 }] },
  {
    name: 'one parent done, one queued',
    parents: [
      { func: 'f', status: 'success', version: 2 },
      { func: 'f', status: 'queued', version: 2 },
    ],
  },
  {
    name: 'one parent in error, one pending',
    parents: [
      { func: 'f', status: 'error', version: 2 },
      { func: 'g', version: 0 },
    ],
  },
];

type Fate = 'started' | 'to the transactional claim' | 'left alone';

/**
 * The fast path's statement decides in SQL, for speed, what planClaim decides in TypeScript for
 * the rows it starts. These tests put one delivered row in each state and check that both agree:
 * the statement starts exactly the rows planClaim would start, and hands the transactional claim
 * exactly the rows planClaim has something to do with.
 */
describe('claim decisions: the fast path statement agrees with planClaim', () => {
  let db: { url: string; drop: () => Promise<void> };
  let pool: Pool;
  const ids = new Map<string, string>();

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2, options: `-c search_path=${userSettings.dbSchema}` });
    const children = await insertDetailedTasks(pool, CASES.map((c, i) => ({ func: 'f', version: 2, args: { case: i }, ...c.row })));
    CASES.forEach((c, i) => ids.set(c.name, children[i]));
    const parentRows = CASES.flatMap((c, i) => (c.parents ?? []).map((p, j) => ({ child: children[i], name: `p${j}`, row: { ...p, args: { parentOf: i, j } } })));
    const parentIds = await insertDetailedTasks(pool, parentRows.map((p) => p.row));
    await insertEdges(pool, parentRows.map((p, k) => ({ prev: parentIds[k], next: p.child, name: p.name })));
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('starts, hands on or leaves alone each row as planClaim decides', async () => {
    const delivered = [...ids.values()];
    // What planClaim makes of the rows and their parents, read as the transactional claim reads them.
    const reader = new WorkerSession(db.url, userSettings.dbSchema);
    let planned: Map<string, Fate>;
    try {
      planned = await reader.transaction(async (q) => {
        const rows = await q.rows<LockedRow>(LOCK_DELIVERED, [delivered]);
        const parents = await q.rows<ParentRow>(PARENTS_FOR_SHARE, [rows.filter((r) => r.has_prev).map((r) => r.id)]);
        const plan = planClaim(rows, parentsByChild(parents), versions, claims);
        const fates = new Map<string, Fate>(rows.map((r) => [r.id, 'left alone']));
        for (const id of [...plan.notRunnable.map((n) => n.id), ...plan.queueChildrenOf]) fates.set(id, 'to the transactional claim');
        for (const s of plan.start) fates.set(s.row.id, 'started');
        return fates;
      });
    } finally {
      await reader.close();
    }

    // What the fast path's statement does with the same rows (its advisory locks go with its session).
    const session = new WorkerSession(db.url, userSettings.dbSchema);
    let done: Map<string, Fate>;
    try {
      const rows = await session.rows<ClaimRow>(CLAIM_DELIVERED, [delivered, 'parity-test', [...versions.keys()], [...versions.values()], [...claims], []]);
      // A row handed back to its queue (a func not claimed here) is left as it is, as planClaim leaves it.
      const { started, unsettled } = afterFastPath(rows, claims);
      done = new Map<string, Fate>(rows.map((r) => [r.id, 'left alone']));
      for (const id of unsettled) done.set(id, 'to the transactional claim');
      for (const t of started) done.set(t.id, 'started');
    } finally {
      await session.close();
    }

    const byCase = (fates: Map<string, Fate>) => Object.fromEntries(CASES.map((c) => [c.name, fates.get(ids.get(c.name)!)]));
    expect(byCase(done)).toEqual(byCase(planned));
    // Every state above is decided somewhere: the table is not all one fate.
    expect(new Set(Object.values(byCase(planned)))).toEqual(new Set(['started', 'to the transactional claim', 'left alone']));
  });
});
