import type { Pool, PoolClient } from 'pg';
import { pgQueryable, type Queryable, type Statement } from './queryable.js';
import { BEGIN, COMMIT, NOTIFY, ROLLBACK } from './sql/session.sql.js';

/**
 * The engine's one way to its database: statements (from a gateway's sql/ file) on a pool, in a
 * transaction, or on a session of their own. Only database/ holds a `pg` connection; a gateway
 * (`*.gateway.ts`) is handed a Db or a Queryable and names what it runs (`finishIfStarted`, …).
 * The engine has one Db on its pool; the api role one on the admin pool (ADMIN_STATEMENT_TIMEOUT_MS).
 */
export class Db implements Queryable {
  private readonly q: Queryable;

  constructor(private readonly pool: Pool) {
    this.q = pgQueryable(pool);
  }

  rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
    return this.q.rows<T>(statement, values);
  }

  count(statement: Statement, values: unknown[]): Promise<number> {
    return this.q.count(statement, values);
  }

  /** Sends `payload` on `channel` (LISTENers get it at commit, or at once outside a transaction). */
  async notify(channel: string, payload: string, on: Queryable = this.q): Promise<void> {
    await on.rows(NOTIFY, [channel, payload]);
  }

  /** `work` in one transaction: it commits if `work` resolves, rolls back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.session(async (session) => {
      await session.rows(BEGIN, []);
      try {
        const result = await work(session);
        await session.rows(COMMIT, []);
        return result;
      } catch (err) {
        await session.rows(ROLLBACK, []).catch(() => undefined); // the connection is destroyed (see session)
        throw err;
      }
    });
  }

  /**
   * `work` on one connection of the pool, held until it returns (session advisory locks live on it).
   * A connection on which any statement failed (a lost connection, a failed unlock or rollback) may
   * still hold a lock or a transaction: it is destroyed instead of returned to the pool. Failures are
   * rare, a new connection cheap.
   */
  async session<T>(work: (session: Queryable) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    let broken: Error | undefined;
    const q = pgQueryable(client);
    const guarded: Queryable = {
      rows: <R>(statement: Statement, values: unknown[]) => q.rows<R>(statement, values).catch((err: Error): Promise<R[]> => Promise.reject((broken = err))),
      count: (statement: Statement, values: unknown[]) => q.count(statement, values).catch((err: Error): Promise<number> => Promise.reject((broken = err))),
    };
    try {
      return await work(guarded);
    } finally {
      client.release(broken);
    }
  }
}

