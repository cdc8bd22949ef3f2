import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { writeSampleTree } from '../../examples/pipeline/sample-tree.js';
import { SearchService } from '../../examples/pipeline/search.service.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { waitFor } from '../helpers/databases.js';

const transports = ['postgres', ...(process.env.AMQP_URL ? ['amqp'] : [])];
if (!process.env.AMQP_URL) console.log('pipeline on RabbitMQ skipped: AMQP_URL is not set');

describe.each(transports)('reference pipeline on the %s transport', (transport) => {
  const FILES = 60;
  let root: string;
  let app: TestApp;
  const collection = 'fx';

  const counts = async () =>
    Object.fromEntries(
      (await app.db.query(`SELECT func || ':' || status AS k, count(*)::int AS n FROM task WHERE collection = $1 GROUP BY 1`, [collection])).rows.map((r) => [r.k, r.n]),
    ) as Record<string, number>;
  /** Drives the bulk runner (its timer is off in tests) until every task of the collection is final. */
  const settle = () =>
    waitFor(
      async () => {
        const report = await app.get(BulkRunnerService).runOnce();
        expect(report.errors).toBe(0);
        const { rows } = await app.db.query(
          `SELECT count(*) FILTER (WHERE status NOT IN ('success', 'broken', 'error'))::int AS open,
                  count(*) FILTER (WHERE func = 'search.index')::int AS indexed
             FROM task WHERE collection = $1`,
          [collection],
        );
        return rows[0].open === 0 && rows[0].indexed > 0;
      },
      'the pipeline to settle',
      60000,
    );
  const attempts = async (func: string) =>
    new Map((await app.db.query(`SELECT id::text, attempt FROM task WHERE collection = $1 AND func = $2`, [collection, func])).rows.map((r) => [r.id, r.attempt as number]));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'laterz-pipeline-'));
    writeSampleTree(root, { files: FILES, perFolder: 15 });
    app = await startTestApp({
      env: {
        PIPELINE_ENABLED: 'true',
        COLLECTIONS: `${collection}=${root}:sync`,
        DISPATCH_MIN_AGE_SECONDS: '0',
        ...(transport === 'amqp' ? { AMQP_URL: process.env.AMQP_URL } : {}),
      },
    });
    await settle();
  });
  afterAll(async () => {
    await app?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('finds every file, digests each once and extracts each content once', async () => {
    const files = await app.db.query(`SELECT count(*)::int AS n FROM file WHERE collection = $1 AND kind = 'file'`, [collection]);
    // FILES documents, a copy of every 30th (a .txt), and 4 special files.
    expect(files.rows[0].n).toBe(FILES + Math.ceil(FILES / 30) + 4);
    const c = await counts();
    expect(c['digests.digest:success']).toBe(files.rows[0].n);
    const blobs = await app.db.query(`SELECT count(DISTINCT blob)::int AS n FROM file WHERE collection = $1 AND kind = 'file'`, [collection]);
    expect(blobs.rows[0].n).toBe(files.rows[0].n - Math.ceil(FILES / 30));
    const extracts = (c['text.extract:success'] ?? 0) + (c['text.extract:broken'] ?? 0);
    expect(extracts).toBe(blobs.rows[0].n);
    const dup = await app.db.query(`SELECT count(DISTINCT blob)::int AS n FROM file WHERE collection = $1 AND path IN ('batch-000/doc-00000.txt', 'duplicates/copy-of-00000.txt')`, [collection]);
    expect(dup.rows[0].n).toBe(1);
  });

  it('breaks the corrupt and unsupported files with their reasons while the rest succeed', async () => {
    const { rows } = await app.db.query(
      `SELECT f.path, t.status::text AS status, t.broken_reason
         FROM task t JOIN file f ON f.collection = t.collection AND f.blob = t.args->>'blob'
        WHERE t.collection = $1 AND t.func = 'text.extract' AND t.status <> 'success'
        ORDER BY f.path`,
      [collection],
    );
    expect(rows).toEqual([
      { path: 'special/broken.json', status: 'broken', broken_reason: 'corrupt_file' },
      { path: 'special/corrupt.pdf', status: 'broken', broken_reason: 'corrupt_file' },
      { path: 'special/picture.png', status: 'broken', broken_reason: 'unsupported_type' },
    ]);
    const c = await counts();
    expect(c['search.index:success']).toBe(c['text.extract:success']);
    expect(Object.keys(c).filter((k) => k.endsWith(':error'))).toEqual([]);
  });

  it('finds a phrase from a PDF through the search route', async () => {
    const hits = await app.get(SearchService).search(collection, '"offshore trust deed"', 10);
    expect(hits.map((h) => h.paths)).toEqual([['special/contract.pdf']]);
    expect(hits[0].snippet).toContain('<mark>');
    const res = await request(app.app.getHttpServer())
      .get(`/api/collections/${collection}/search`)
      .query({ q: '"document number 7"' })
      .set('Authorization', `Bearer ${process.env.LATERZ_TEST_OPERATOR_TOKEN ?? ''}`);
    if (res.status === 200) expect(res.body.hits.map((h: { paths: string[] }) => h.paths[0])).toContain('batch-000/doc-00007.md');
    else expect([401, 403]).toContain(res.status);
  });

  it('picks up a file added to a sync collection at the next walk', async () => {
    writeFileSync(join(root, 'batch-000', 'late-arrival.txt'), 'a zebra crossing appeared in the ledger\n');
    // The walks finished more than their resync interval ago: the dispatcher re-runs them.
    await app.db.query(`UPDATE task SET date_finished = now() - interval '2 minutes' WHERE collection = $1 AND func = 'filesystem.walk'`, [collection]);
    const report = await app.get(DispatcherService).runOnce();
    expect(report.queued.resync).toBeGreaterThan(0);
    await settle();
    const hits = await app.get(SearchService).search(collection, 'zebra crossing', 10);
    expect(hits.map((h) => h.paths)).toEqual([['batch-000/late-arrival.txt']]);
  });

  it('re-runs exactly extraction and indexing when text.extract is outdated', async () => {
    const before = {
      walk: await attempts('filesystem.walk'),
      digest: await attempts('digests.digest'),
      extract: await attempts('text.extract'),
      index: await attempts('search.index'),
    };
    // What a version bump of text.extract leaves in the table: its rows finished at an older version.
    await app.db.query(`UPDATE task SET version = version - 1 WHERE collection = $1 AND func = 'text.extract'`, [collection]);
    const report = await app.get(DispatcherService).runOnce();
    expect(report.queued.outdated).toBe(before.extract.size);
    await settle();
    const after = {
      walk: await attempts('filesystem.walk'),
      digest: await attempts('digests.digest'),
      extract: await attempts('text.extract'),
      index: await attempts('search.index'),
    };
    expect(after.walk).toEqual(before.walk);
    expect(after.digest).toEqual(before.digest);
    for (const [id, n] of before.extract) expect(after.extract.get(id)).toBe(n + 1);
    for (const [id, n] of before.index) expect(after.index.get(id)).toBe(n + 1);
    const outdated = await app.db.query(`SELECT count(*)::int AS n FROM task WHERE collection = $1 AND func = 'text.extract' AND version < 1`, [collection]);
    expect(outdated.rows[0].n).toBe(0);
  });
});
