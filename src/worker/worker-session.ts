import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { TRY_LOCK_RUNNING, UNLOCK_RUNNING } from '../tasks/sql/claim.sql.js';

/**
 * The worker process's one long-lived session: it holds a session advisory lock per running task,
 * so the dispatcher can tell a running task (lock held) from a dead one, and a crashed process
 * releases all its locks at once. It must be a direct session, not one behind a transaction pooler.
 */
export class WorkerSession {
  private readonly logger = new Logger(WorkerSession.name);
  private client?: Client;
  private connecting?: Promise<Client>;
  private closed = false;
  /** pg runs one query at a time per client: calls are chained instead of piling up on it. */
  private chain: Promise<unknown> = Promise.resolve();

  private readonly lostListeners: ((reason: string) => void)[] = [];

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {}

  /** Called when the session is lost: every lock it held is gone, so running tasks are no longer ours. */
  onLost(listener: (reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  /** Takes the locks it can; returns the ids whose lock it now holds. */
  async tryLock(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.serial(async () => (await this.session()).query<{ id: string }>({ ...TRY_LOCK_RUNNING, values: [ids] }));
    return new Set(rows.map((r) => r.id));
  }

  async unlock(ids: string[]): Promise<void> {
    if (ids.length === 0 || !this.client) return;
    const client = this.client;
    await this.serial(() => client.query({ ...UNLOCK_RUNNING, values: [ids] }));
  }

  /** The backend pid of the session (tests and the chaos suite use it). */
  async pid(): Promise<number> {
    const client = await this.session();
    return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private session(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.closed) return Promise.reject(new Error('worker session closed'));
    return (this.connecting ??= this.connect().finally(() => (this.connecting = undefined)));
  }

  private async connect(): Promise<Client> {
    const client = new Client({ connectionString: this.url, application_name: 'laterz-worker-session', options: `-c search_path=${this.schema}` });
    const lost = (reason: string) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.logger.error(`worker session lost: ${reason}`);
      for (const listener of this.lostListeners) listener(reason);
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('connection ended'));
    await client.connect();
    this.client = client;
    return client;
  }
}
