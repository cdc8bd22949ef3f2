import { Pool, type PoolClient } from 'pg';
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

  constructor(protected readonly pool: Pool) {
    this.q = pgQueryable(pool);
  }

  /** A Db on a pool of its own (the api role's), which `end()` closes; the engine's Db is on TypeORM's pool. */
  static open(options: DbPoolOptions): OwnedDb {
    const pool = new Pool({
      connectionString: options.url,
      max: options.max,
      statement_timeout: options.statementTimeoutMs,
      connectionTimeoutMillis: options.connectionTimeoutMs,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
      application_name: options.applicationName,
      // As the engine's pool (data-source.ts): unqualified SQL follows DB_SCHEMA, and no JIT.
      options: `-c search_path=${options.schema} -c jit=off`,
    });
    pool.on('error', options.onIdleError);
    return new OwnedDb(pool);
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


/** The pool Db.open makes. */
export interface DbPoolOptions {
  url: string;
  /** Connections at most. */
  max: number;
  /** `statement_timeout` of every session. */
  statementTimeoutMs: number;
  /** How long a caller waits for a free connection before the pool gives up. */
  connectionTimeoutMs: number;
  /** `idle_in_transaction_session_timeout` of every session. */
  idleInTransactionTimeoutMs: number;
  /** How the sessions name themselves in pg_stat_activity. */
  applicationName: string;
  /** The sessions' `search_path`. */
  schema: string;
  /** An idle connection of the pool failed (the pool drops it). */
  onIdleError: (err: Error) => void;
}

/** A Db that owns its pool (Db.open): its opener calls `end()` at shutdown. */
export class OwnedDb extends Db {
  /** Closes the pool: waits for the connections in use to come back, then ends every one. */
  end(): Promise<void> {
    return this.pool.end();
  }
}
