import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { sleep } from './clock.js';

/** A database of one run's own on the bench server; `drop` removes it (and ends its sessions). */
export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
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

/** CREATE DATABASE with a fresh name made from `label` (letters, digits and _ only). */
export async function createDatabase(serverUrl: string, label: string): Promise<BenchDatabase> {
  const name = `bench_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase().slice(0, 40)}_${randomBytes(4).toString('hex')}`;
  await onServer(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(serverUrl, name),
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
export async function withDatabase<T>(serverUrl: string, label: string, work: (db: BenchDatabase) => Promise<T>): Promise<T> {
  const db = await createDatabase(serverUrl, label);
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
