import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { HELD_TASK_LOCKS, UNLOCK_RUNNING } from '../tasks/sql/claim.sql.js';
import type { Queryable, Statement } from '../database/queryable.js';

/**
 * The worker process's one long-lived session, and its whole conversation with the database: the
 * claims, the finishes and the session advisory locks of the running tasks (taken inside the claim,
 * released inside the finish). A crashed process releases all its locks at once, so the dispatcher
 * can tell a running task from a dead one. It must be a direct session, not one behind a
 * transaction-mode pooler. Calls are chained: pg runs one query at a time per client.
 */
export class WorkerSession implements Queryable {
  private readonly logger = new Logger(WorkerSession.name);
  private client?: Client;
  private connecting?: Promise<Client>;
  private closed = false;
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
      await client.query('BEGIN');
      try {
        const result = await work(q);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Releases advisory locks this session holds (a lock it does not hold is skipped). */
  async unlock(ids: string[]): Promise<void> {
    if (ids.length === 0 || !this.client) return;
    await this.rows(UNLOCK_RUNNING, [ids]);
  }

  /**
   * Releases every task lock this session holds for a task not running here: after a failed
   * claim statement, whose locks survive it, whichever of its rows it had locked.
   */
  async releaseStray(isRunning: (id: string) => boolean): Promise<void> {
    if (!this.client) return;
    const held = await this.rows<{ id: string }>(HELD_TASK_LOCKS, []);
    await this.unlock(held.map((h) => h.id).filter((id) => !isRunning(id)));
  }

  /** The backend pid of the session (tests and the chaos suite use it). */
  async pid(): Promise<number> {
    return (await this.serial((c) => c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))).rows[0].pid;
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
    if (this.closed) return Promise.reject(new Error('worker session closed'));
    return (this.connecting ??= this.connect().finally(() => (this.connecting = undefined)));
  }

  private async connect(): Promise<Client> {
    // enable_sort=off: the dequeue must walk task_queued_idx in (priority DESC, id) order up to its
    // LIMIT; with stale statistics (a burst of enqueues) the planner read and sorted the whole queue
    // instead, 11-13 ms per claim against 0.3 ms. The session's other statements sort only a batch.
    const client = new Client({
      connectionString: this.url,
      application_name: 'laterz-worker-session',
      options: `-c search_path=${this.schema} -c enable_sort=off -c jit=off`,
    });
    const lost = (reason: string) => {
      if (this.client !== client) return;
      this.client = undefined;
      if (this.closed) return;
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
