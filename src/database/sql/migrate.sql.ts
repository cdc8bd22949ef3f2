import type { Statement } from '../queryable.js';

/** The session advisory lock a migration chain runs under ($1, $2: its two-int key); waits for the holder. */
export const ADVISORY_LOCK: Statement = { text: 'SELECT pg_advisory_lock($1, $2)' };
export const ADVISORY_UNLOCK: Statement = { text: 'SELECT pg_advisory_unlock($1, $2)' };

/** Creates the schema unless it exists; `schema` is already quoted (escapeIdentifier). */
export function createSchemaIfMissing(schema: string): Statement {
  return { text: `CREATE SCHEMA IF NOT EXISTS ${schema}` };
}
