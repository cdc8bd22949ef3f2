import type { Pool, PoolClient } from 'pg';
import type { QueryRunner } from 'typeorm';

/** A hot statement: the SQL and, for the prepared-statement cache, a unique name. */
export interface Statement {
  name: string;
  text: string;
}

/** Runs statements on a pg client/pool (prepared) or inside a caller's TypeORM transaction. */
export interface Queryable {
  rows<T>(statement: Statement, values: unknown[]): Promise<T[]>;
}

export function pgQueryable(client: Pool | PoolClient): Queryable {
  return {
    async rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
      const result = await client.query({ name: statement.name, text: statement.text, values });
      return result.rows as T[];
    },
  };
}

export function typeormQueryable(runner: QueryRunner): Queryable {
  return {
    async rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
      const result = await runner.query(statement.text, values, true);
      return (result.records ?? []) as T[];
    },
  };
}

/** Runs `work` in a transaction on a client of the pool. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}
