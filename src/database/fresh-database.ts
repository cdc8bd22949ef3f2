import { Client } from 'pg';
import { createDatabase } from './sql/embedded.sql.js';
import { dropDatabase } from './sql/fresh-database.sql.js';

export interface FreshDatabase {
  url: string;
  /** Drops the database, ending any connection still on it; a second call does nothing. */
  drop(): Promise<void>;
}

/**
 * A database of its own, `name`, made now on the server of `serverUrl` (LaterzTesting on a given
 * URL: its own database, not a schema, because advisory locks, which the claim and the jobs take,
 * are per database). The database `serverUrl` names only runs the CREATE and the DROP.
 */
export async function createFreshDatabase(serverUrl: string, name: string): Promise<FreshDatabase> {
  await onServer(serverUrl, (client) => client.query(createDatabase(client.escapeIdentifier(name)).text));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop: () => (dropped ??= onServer(serverUrl, async (client) => void (await client.query(dropDatabase(client.escapeIdentifier(name)).text)))),
  };
}

async function onServer<T>(serverUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl, application_name: 'laterz-testing' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
