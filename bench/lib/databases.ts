import { Client } from 'pg';
import { scratchAmqpPrefix, scratchDatabaseName, scratchId, ScratchSettings } from '../../src/config/scratch-names.js';
import { sleep } from './clock.js';
import type { BenchOptions } from './options.js';

/** A database and the schema of laterz's tables in it (the user's DB_SCHEMA). */
export interface BenchTarget {
  url: string;
  schema: string;
}

/** A database of one run's own on the bench server; `drop` removes it (and ends its sessions). */
export interface BenchDatabase extends BenchTarget {
  name: string;
  drop(): Promise<void>;
}

/**
 * The AMQP prefix of one run's queues, `<AMQP_PREFIX>.bench-<the database's id>[-<system>]`: each
 * run's database gets queues of its own (a stale message from another run would name a task id
 * of this one), under the user's prefix and apart from the service's own queues.
 */
export function benchAmqpPrefix(settings: Pick<ScratchSettings, 'amqpPrefix'>, databaseUrl: string, system?: string): string {
  const id = new URL(databaseUrl).pathname.split('_').pop()!;
  return scratchAmqpPrefix(settings.amqpPrefix, 'bench', system ? `${id}-${system}` : id);
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function onServer<T>(serverUrl: string, work: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl, application_name: 'laterz-bench' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** CREATE DATABASE `laterz_bench_<label>_<id>` (label: letters, digits and _ only) on the bench server. */
export async function createDatabase(options: Pick<BenchOptions, 'serverUrl' | 'settings'>, label: string): Promise<BenchDatabase> {
  const serverUrl = options.serverUrl;
  const name = scratchDatabaseName('bench', label.replace(/[^a-z0-9]+/gi, '_').slice(0, 40), scratchId(4));
  await onServer(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(serverUrl, name),
    schema: options.settings.dbSchema,
    drop: () =>
      onServer(serverUrl, async (c) => {
        // Pools closed a moment ago may still be saying goodbye; FORCE is for the ones that never do.
        const sessions = async () => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name])).rows[0].n;
        for (let i = 0; i < 50 && (await sessions()) > 0; i++) await sleep(50);
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

/** Runs `work` on a fresh database and drops it afterwards, whatever happens. */
export async function withDatabase<T>(options: Pick<BenchOptions, 'serverUrl' | 'settings'>, label: string, work: (db: BenchDatabase) => Promise<T>): Promise<T> {
  const db = await createDatabase(options, label);
  try {
    return await work(db);
  } finally {
    await db.drop().catch((err: Error) => console.error(`could not drop ${db.name}: ${err.message}`));
  }
}

/** The server's version line and core settings, recorded with every result. */
export async function describeServer(serverUrl: string): Promise<{ version: string; settings: Record<string, string> }> {
  return onServer(serverUrl, async (c) => {
    const version = (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v;
    const names = ['shared_buffers', 'synchronous_commit', 'max_connections', 'fsync'];
    const rows = (await c.query<{ name: string; setting: string; unit: string | null }>('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)', [names])).rows;
    return { version, settings: Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} ${r.unit}` : r.setting])) };
  });
}
