import type { ClientBase, Pool } from 'pg';
import type { QueryRunner } from 'typeorm';

/**
 * A statement: its SQL and, for a hot one, a unique name (pg prepares it once per connection).
 * A statement built per call (a filter's WHERE) has no name.
 */
export interface Statement {
  name?: string;
  text: string;
}

/** Runs statements: on a pool, a transaction's client, a worker's session, or a caller's TypeORM transaction. */
export interface Queryable {
  rows<T>(statement: Statement, values: unknown[]): Promise<T[]>;
  /** How many rows the statement changed (an UPDATE/DELETE without RETURNING). */
  count(statement: Statement, values: unknown[]): Promise<number>;
}

export function pgQueryable(client: Pool | ClientBase): Queryable {
  return {
    async rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
      const result = await client.query({ name: statement.name, text: statement.text, values });
      return result.rows as T[];
    },
    async count(statement: Statement, values: unknown[]): Promise<number> {
      const result = await client.query({ name: statement.name, text: statement.text, values });
      return result.rowCount ?? 0;
    },
  };
}

export function typeormQueryable(runner: QueryRunner): Queryable {
  return {
    async rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
      const result = await runner.query(statement.text, values, true);
      return (result.records ?? []) as T[];
    },
    async count(statement: Statement, values: unknown[]): Promise<number> {
      const result = await runner.query(statement.text, values, true);
      return result.affected ?? 0;
    },
  };
}
