import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { Client } from 'pg';
import { NO_ENV_FILE } from '../../src/config/env-file.js';
import { wallMs, waitUntil } from '../lib/clock.js';
import { benchAmqpPrefix, withDatabase } from '../lib/databases.js';
import { progress } from '../lib/harness.js';
import type { BenchOptions } from '../lib/options.js';
import { median, round } from '../lib/stats.js';
import type { Scenario } from './scenario.js';

const WORDS = 'ledger invoice harbor customs manifest freight audit memo contract witness transfer account trust director revenue'.split(' ');
const PER_FOLDER = 250;
const OPERATOR_TOKEN = 'bench-operator-token-0123456789';

/** `n` small text files, `PER_FOLDER` to a folder, each with a phrase of its own. */
function writeTree(root: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const dir = join(root, `f${String(Math.floor(i / PER_FOLDER)).padStart(3, '0')}`);
    if (i % PER_FOLDER === 0) mkdirSync(dir, { recursive: true });
    const words = Array.from({ length: 40 }, (_, k) => WORDS[(i * 7 + k * 13) % WORDS.length]).join(' ');
    writeFileSync(join(dir, `doc-${i}.txt`), `file number ${i} ${words}\n`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The broker queues the service declared (GET /api/queues), so that they can be deleted once it has stopped. */
async function serviceQueues(port: number): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/queues`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
  if (!res.ok) throw new Error(`GET /api/queues answered ${res.status}`);
  const body = (await res.json()) as { funcs: { brokerQueue: string | null }[] };
  return body.funcs.map((f) => f.brokerQueue).filter((q): q is string => q !== null);
}

async function deleteQueues(amqpUrl: string, names: string[]): Promise<void> {
  const connection = await amqplib.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    for (const name of names) await channel.deleteQueue(name);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Peak resident set of a live process (VmHWM), MiB. */
function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return line ? Number(line.replace(/\D+/g, '')) / 1024 : NaN;
}

/**
 * One ingest: the built service (`node dist/src/main.js`, every role, the reference pipeline on) is
 * started on a fresh database with one collection over a generated tree; the clock runs from the
 * spawn until every file is searchable (one search_document per distinct content). Peak RSS is the
 * service process's VmHWM at that moment.
 */
async function ingestOnce(options: BenchOptions, files: number): Promise<{ filesPerSecond: number; peakRssMiB: number; seconds: number }> {
  const root = mkdtempSync(join(tmpdir(), 'laterz-ingest-'));
  writeTree(root, files);
  try {
    return await withDatabase(options, 'ingest', async (db) => {
      const port = await freePort();
      const amqp = options.transport === 'amqp';
      let queues: string[] = [];
      const t0 = wallMs();
      const child = spawn(process.execPath, ['dist/src/main.js'], {
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          DB_SCHEMA: db.schema,
          PORT: String(port),
          ROLES: 'api,worker,scheduler',
          COLLECTIONS: `ingest=${root}`,
          PIPELINE_ENABLED: 'true',
          ADMIN_TOKENS: `operator:${OPERATOR_TOKEN}`,
          // An empty AMQP_URL counts as unset, which a .env in the working directory would fill: none is read.
          ENV_FILE: NO_ENV_FILE,
          AMQP_URL: amqp ? options.amqpUrl : '',
          AMQP_PREFIX: amqp ? benchAmqpPrefix(options.settings, db.url) : '',
          BULK_INTERVAL_SECONDS: '1',
          DISPATCH_INTERVAL_SECONDS: '5',
          WORKER_CONCURRENCY: '200',
          WORKER_BATCH_SIZE: '100',
          LOG_LEVEL: 'warn',
          LOG_FORMAT: 'json',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const pg = new Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
      await pg.connect();
      try {
        await waitUntil(
          async () => {
            if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
            try {
              const { rows } = await pg.query<{ files: number; docs: number; blobs: number }>(
                `SELECT (SELECT count(*) FROM file WHERE collection = 'ingest' AND kind = 'file')::int AS files,
                        (SELECT count(DISTINCT blob) FROM file WHERE collection = 'ingest' AND kind = 'file')::int AS blobs,
                        (SELECT count(*) FROM search_document WHERE collection = 'ingest')::int AS docs`,
              );
              const r = rows[0];
              return r.files === files && r.docs === r.blobs;
            } catch {
              return false; // tables not there yet: the service is still migrating
            }
          },
          `${files} files to be searchable`,
          600_000,
          200,
        );
        const seconds = (wallMs() - t0) / 1000;
        const peak = peakRssMiB(child.pid!);
        if (amqp) queues = await serviceQueues(port);
        return { filesPerSecond: files / seconds, peakRssMiB: peak, seconds };
      } finally {
        await pg.end().catch(() => undefined);
        child.kill('SIGTERM');
        await exited;
        // RabbitMQ keeps durable queues after the database is gone.
        if (queues.length > 0) await deleteQueues(options.amqpUrl, queues).catch((err: Error) => progress(`deleting the ingest's queues: ${err.message}`));
      }
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export const ingest: Scenario = {
  name: 'ingest',
  description: 'the reference pipeline over a generated tree of small text files: start to searchable',
  async run({ options }) {
    const files = options.quick ? 2_000 : 20_000;
    const results: { filesPerSecond: number; peakRssMiB: number; seconds: number }[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const r = await ingestOnce(options, files);
      progress(`ingest run ${run}: ${round(r.filesPerSecond)} files/s, ${round(r.seconds)} s, peak RSS ${round(r.peakRssMiB)} MiB`);
      results.push(r);
    }
    const rates = results.map((r) => round(r.filesPerSecond));
    const peaks = results.map((r) => round(r.peakRssMiB));
    return {
      metric: 'throughput',
      value: median(rates),
      unit: 'files/s',
      better: 'higher',
      runs: rates,
      params: { files, perFolder: PER_FOLDER, roles: 'api,worker,scheduler (one process)', clock: 'spawn of dist/src/main.js until every file is searchable' },
      also: [{ label: 'peak RSS of the service', metric: 'peak-rss', value: median(peaks), unit: 'MiB', runs: peaks }],
    };
  },
};
