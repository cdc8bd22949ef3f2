import { Injectable } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import createClient from 'openapi-fetch';
import { BulkRunnerService } from '../../src/maintenance/bulk/bulk-runner.service.js';
import { writeSampleTree } from '../../examples/pipeline/sample-tree.js';
import { StatsService } from '../../src/maintenance/stats/stats.service.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { insertDetailedTasks, many } from '../factories/scheduler.factory.js';
import { waitFor } from '../helpers/databases.js';
import { ROOT } from '../helpers/service-process.js';
import { startTestApp, TEST_TOKENS, TestApp } from '../helpers/test-app.js';
import { clients } from './admin-client.js';
import type { Fixtures } from './openapi-client/fixtures.js';
import { OpenApiDocument, operations, responseValidator } from './openapi-client/response-schemas.js';

@Injectable()
class OpenApiHandlers {
  @TaskHandler('oa.work')
  work(args: { n?: number }) {
    return { n: args.n ?? 0 };
  }
}

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`${args.join(' ')}:\n${stdout}${stderr}`)) : resolve(stdout))),
  );
}

describe('the OpenAPI document: every route described, and a client generated from it compiles and calls them all', () => {
  let app: TestApp;
  let doc: OpenApiDocument;
  let root: string;
  let work: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'laterz-openapi-tree-'));
    writeSampleTree(root, { files: 12, perFolder: 6 });
    app = await startTestApp({
      handlers: [OpenApiHandlers],
      env: { PIPELINE_ENABLED: 'true', COLLECTIONS: `fx=${root}`, DISPATCH_MIN_AGE_SECONDS: '0', LOG_LEVEL: 'error' },
    });
    doc = (await clients(app).anon.get('/docs/json')).body as OpenApiDocument;
  });
  afterAll(async () => {
    await app?.close();
    if (root) rmSync(root, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('documents a 2xx response with a schema for every operation, and errors with the error body', () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(20);
    const missing = ops
      .filter(({ op }) => !Object.entries(op.responses).some(([status, r]) => /^2\d\d$/.test(status) && Object.values(r.content ?? {}).some((c) => c.schema !== undefined)))
      .map(({ key }) => key);
    expect(missing).toEqual([]);
    const noErrorBody = ops
      .filter(({ path }) => !path.startsWith('/health/'))
      .filter(({ op }) => (op.responses.default?.content?.['application/json']?.schema as { $ref?: string } | undefined)?.$ref !== '#/components/schemas/ErrorBody')
      .map(({ key }) => key);
    expect(noErrorBody).toEqual([]);
  });

  it('documents the parameters of the search and files routes', () => {
    const params = (path: string) => (doc.paths[path]?.get?.parameters ?? []).map((p) => `${p.in}:${p.name}${p.required ? '!' : ''}`).sort();
    expect(params('/api/collections/{name}/search')).toEqual(['path:name!', 'query:limit', 'query:q!']);
    expect(params('/api/collections/{name}/files')).toEqual(['path:name!', 'query:limit', 'query:path']);
  });

  it('names the bearer scheme for what it is: an opaque token of ADMIN_TOKENS, not a JWT; every route but health needs it', () => {
    const schemes = doc.components.securitySchemes ?? {};
    expect(Object.keys(schemes)).toEqual(['bearer']);
    expect(schemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(JSON.stringify(schemes.bearer)).not.toMatch(/jwt/i);
    const open = operations(doc)
      .filter(({ path }) => !path.startsWith('/health/'))
      .filter(({ op }) => !op.security?.some((s) => 'bearer' in s))
      .map(({ key }) => key);
    expect(open).toEqual([]);
  });

  it('generates a client (openapi-typescript) that tsc accepts, and calls every operation with it: each answers 2xx with what its schema says', async () => {
    // The client's types, from the running app's document, in a folder of their own beside the calls that use them.
    work = mkdtempSync(join(tmpdir(), 'laterz-openapi-client-'));
    writeFileSync(join(work, 'openapi.json'), JSON.stringify(doc));
    writeFileSync(join(work, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    await run(process.execPath, [join(ROOT, 'node_modules/openapi-typescript/bin/cli.js'), 'openapi.json', '--output', 'schema.ts'], work);
    for (const file of ['every-route.ts', 'fixtures.ts']) copyFileSync(join(ROOT, 'test/e2e/openapi-client', file), join(work, file));
    writeFileSync(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2023', lib: ['ES2023', 'DOM'], types: [], noEmit: true, noUnusedLocals: true },
        files: ['every-route.ts', 'fixtures.ts', 'schema.ts'],
      }),
    );
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], work);

    // Real data for every call: failures to retry, tasks to cancel and to purge, an ingested collection with saved stats.
    await insertDetailedTasks(app.db, [
      ...many(3, { func: 'oa.work', status: 'error', error: 'upstream 503', collection: 'oa-retry', modifiedAgo: 3600 }),
      ...many(2, { func: 'oa.work', status: 'pending', collection: 'oa-cancel' }),
      ...many(2, { func: 'oa.work', status: 'error', error: 'gone', collection: 'oa-purge', modifiedAgo: 7200 }),
    ]);
    await waitFor(
      async () => {
        await app.get(BulkRunnerService).runOnce();
        const { rows } = await app.db.query(`SELECT count(*) FILTER (WHERE status NOT IN ('success', 'broken', 'error'))::int AS open, count(*) FILTER (WHERE func = 'search.index')::int AS indexed FROM task WHERE collection = 'fx'`);
        return rows[0].open === 0 && rows[0].indexed > 0;
      },
      'the pipeline to ingest the sample tree',
      60000,
    );
    expect((await app.get(StatsService).runOnce()).errors).toBe(0);
    const fixtures: Fixtures = { retryCollection: 'oa-retry', cancelCollection: 'oa-cancel', purgeCollection: 'oa-purge', searchCollection: 'fx', searchWords: 'document', folder: 'batch-000' };

    const { port } = (app.app.getHttpServer() as Server).address() as AddressInfo;
    const api = createClient({ baseUrl: `http://127.0.0.1:${port}`, headers: { Authorization: `Bearer ${TEST_TOKENS.operator}` } });
    const answers: { key: string; status: number; type: string; text: string }[] = [];
    api.use({
      async onResponse({ request, response, schemaPath }) {
        answers.push({ key: `${request.method} ${schemaPath}`, status: response.status, type: response.headers.get('content-type') ?? '', text: await response.clone().text() });
      },
    });
    // The same calls tsc checked above against the generated types (which only tsc needs).
    const { callEveryRoute } = (await import(join(ROOT, 'test/e2e/openapi-client/every-route.ts'))) as { callEveryRoute: (client: typeof api, f: Fixtures) => Promise<void> };
    await callEveryRoute(api, fixtures);

    const validator = responseValidator(doc);
    const problems: string[] = [];
    for (const a of answers) {
      const [method, path] = a.key.split(' ');
      const response = doc.paths[path]?.[method.toLowerCase()]?.responses[String(a.status)];
      const media = a.type.split(';')[0];
      const schema = response?.content?.[media]?.schema;
      if (a.status < 200 || a.status > 299) problems.push(`${a.key}: ${a.status}`);
      else if (!schema) problems.push(`${a.key}: no schema for ${a.status} ${media}`);
      else {
        const validate = validator(schema);
        if (!validate(media === 'application/json' ? JSON.parse(a.text) : a.text)) problems.push(`${a.key}: ${JSON.stringify(validate.errors?.slice(0, 5))} in ${a.text.slice(0, 300)}`);
      }
    }
    expect(problems).toEqual([]);
    const called = new Set(answers.map((a) => a.key));
    expect(operations(doc).map(({ key }) => key).filter((k) => !called.has(k))).toEqual([]);
  });
});
