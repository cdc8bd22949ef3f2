import type { Statement } from '../queryable.js';

/** A row when database $1 exists. */
export const DATABASE_EXISTS: Statement = { text: 'SELECT 1 FROM pg_database WHERE datname = $1' };

/** Creates a database; `database` is already quoted (escapeIdentifier). */
export function createDatabase(database: string): Statement {
  return { text: `CREATE DATABASE ${database}` };
}
