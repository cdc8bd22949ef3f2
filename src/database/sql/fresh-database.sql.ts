import type { Statement } from '../queryable.js';

/** Drops a database and ends its connections; `database` is already quoted (escapeIdentifier). */
export function dropDatabase(database: string): Statement {
  return { text: `DROP DATABASE IF EXISTS ${database} WITH (FORCE)` };
}
