import { Client } from 'pg';
import type { Queryable, Statement } from './queryable.js';
import { BACKEND_PID } from './sql/dedicated-session.sql.js';
import { BEGIN, COMMIT, ROLLBACK } from './sql/session.sql.js';

export interface DedicatedSessionOptions {
  url: string;
  /** How the connection names itself in pg_stat_activity. */
  applicationName: string;
  /** The connection's `options` parameter (`-c name=value …`: search_path, planner settings). */
  options: string;
  /** What the session is called in its errors ("worker session"). */
  label: string;
}

/**
 * One connection of its own, outside any pool, held for as long as its owner lives: session
 * advisory locks taken on it stay until they are released or the connection ends. Calls are chained
 * (pg runs one query at a time per client); a lost connection is reopened by the next call, and the
 * `onLost` listeners hear of the loss (every lock it held is gone with it). It must be a direct
 * session, not one behind a transaction-mode pooler.
 */
export class DedicatedSession implements Queryable {
  private client?: Client;
  private connecting?: Promise<Client>;
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly lostListeners: ((reason: string) => void)[] = [];

  constructor(private readonly options: DedicatedSessionOptions) {}

  /** Whether the connection is open now (a lost or never opened one holds no lock). */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Called when the connection is lost (not when closed): every lock it held is gone. Listeners run in the order added. */
  onLost(listener: (reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  /** One statement (prepared, by name) on the session. */
  rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
    return this.serial(async (client) => (await client.query({ name: statement.name, text: statement.text, values })).rows as T[]);
  }

  count(statement: Statement, values: unknown[]): Promise<number> {
    return this.serial(async (client) => (await client.query({ name: statement.name, text: statement.text, values })).rowCount ?? 0);
  }

  /** `work` in one transaction on the session; nothing else runs on it meanwhile. */
  transaction<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
    return this.serial(async (client) => {
      const q: Queryable = {
        rows: async <R>(statement: Statement, values: unknown[]) =>
          (await client.query({ name: statement.name, text: statement.text, values })).rows as R[],
        count: async (statement: Statement, values: unknown[]) => (await client.query({ name: statement.name, text: statement.text, values })).rowCount ?? 0,
      };
      await client.query(BEGIN.text);
      try {
        const result = await work(q);
        await client.query(COMMIT.text);
        return result;
      } catch (err) {
        await client.query(ROLLBACK.text).catch(() => undefined);
        throw err;
      }
    });
  }

  /** The backend pid of the session. */
  async pid(): Promise<number> {
    return (await this.serial((c) => c.query<{ pid: number }>(BACKEND_PID.text))).rows[0].pid;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private serial<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => work(await this.session()));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private session(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.closed) return Promise.reject(new Error(`${this.options.label} closed`));
    return (this.connecting ??= this.connect().finally(() => (this.connecting = undefined)));
  }

  private async connect(): Promise<Client> {
    const client = new Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName,
      options: this.options.options,
    });
    const lost = (reason: string) => {
      if (this.client !== client) return;
      this.client = undefined;
      if (this.closed) return;
      for (const listener of this.lostListeners) listener(reason);
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('connection ended'));
    await client.connect();
    this.client = client;
    return client;
  }
}
