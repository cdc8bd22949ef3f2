import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { DemoProgress } from '../../examples/pipeline/demo-progress.service.js';
import { createTestDatabase, waitFor } from '../helpers/databases.js';
import { startTestApp, TEST_TOKENS, TestApp } from '../helpers/test-app.js';

/**
 * The demo `npm start` runs (no COLLECTIONS): the shipped sample folder, what the service says
 * about it while and after it ingests it, and the answers the README promises for it.
 */
describe('the demo collection', () => {
  let database: { url: string; drop: () => Promise<void> };
  let app: TestApp | undefined;
  let logged: string[] = [];
  const spy = jest.spyOn(Logger.prototype, 'log').mockImplementation(function (message: unknown) {
    logged.push(String(message));
  });
  const demoLines = () => logged.filter((l) => l.startsWith('demo'));
  const start = () => startTestApp({ database, env: { PIPELINE_ENABLED: 'true', DISPATCH_MIN_AGE_SECONDS: '0' } });
  const get = (path: string) => request(app!.app.getHttpServer()).get(path).set('Authorization', `Bearer ${TEST_TOKENS.viewer}`);
  /** The search URL the boot message suggests, relative to the service. */
  const suggestedSearch = () => {
    const line = demoLines().find((l) => l.includes('/search?'));
    const url = /'(http:\/\/localhost:\d+(\/api\/collections\/demo\/search\?[^']+))'/.exec(line ?? '');
    if (!url) throw new Error(`no search URL in the demo's boot message: ${JSON.stringify(demoLines())}`);
    return url[2];
  };
  /** The bulk indexer's timer is off in tests: run it until the demo's tasks are all finished. */
  const settle = () =>
    waitFor(
      async () => {
        await app!.get(BulkRunnerService).runOnce();
        const { rows } = await app!.db.query(
          `SELECT count(*) FILTER (WHERE status NOT IN ('success', 'broken'))::int AS open, count(*) FILTER (WHERE func = 'search.index')::int AS indexed
             FROM task WHERE collection = 'demo'`,
        );
        return rows[0].open === 0 && rows[0].indexed > 0;
      },
      'the demo to be ingested',
      60000,
    );

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await app?.close();
    spy.mockRestore();
    await database.drop();
  });

  it('says it is ingesting at the first start, then reports progress and says once when it is done', async () => {
    app = await start();
    expect(demoLines()[0]).toMatch(/^demo: the sample folder is being ingested/);
    await settle();
    const progress = app.get(DemoProgress);
    await progress.runOnce();
    await progress.runOnce();
    const done = demoLines().filter((l) => /^demo: ingested/.test(l));
    expect(done).toHaveLength(1);
    expect(done[0]).toContain('314 files');
    expect(done[0]).toContain('301 searchable');
    expect(done[0]).toContain('3 could not be read');
  });

  it('answers the README’s queries as the README says', async () => {
    const search = await get('/api/collections/demo/search').query({ q: '"offshore trust deed"' });
    expect(search.status).toBe(200);
    expect(search.body.hits.map((h: { paths: string[] }) => h.paths)).toEqual([['special/contract.pdf']]);
    expect(search.body.hits[0].snippet).toContain('<mark>');
    // The boot message suggests the same query.
    const suggested = await get(suggestedSearch());
    expect(suggested.body.hits.map((h: { paths: string[] }) => h.paths)).toEqual([['special/contract.pdf']]);

    const files = await get('/api/collections/demo/files?path=special');
    expect(files.body.entries.map((e: { path: string }) => e.path)).toEqual(['special/broken.json', 'special/contract.pdf', 'special/corrupt.pdf', 'special/picture.png']);

    const broken = await get('/api/tasks?collection=demo&status=broken');
    expect(broken.status).toBe(200);
    expect(broken.body.items.map((t: { func: string; brokenReason: string }) => `${t.func} ${t.brokenReason}`).sort()).toEqual([
      'text.extract corrupt_file',
      'text.extract corrupt_file',
      'text.extract unsupported_type',
    ]);
  });

  it('says it is already ingested on a restart with nothing left to do, and reports no progress', async () => {
    await app!.close();
    app = undefined;
    logged = [];
    app = await start();
    const lines = demoLines();
    expect(lines.some((l) => l.includes('being ingested'))).toBe(false);
    expect(lines[0]).toMatch(/^demo: the sample folder is already ingested/);
    await app.get(DemoProgress).runOnce();
    expect(demoLines()).toEqual(lines);
  });
});
