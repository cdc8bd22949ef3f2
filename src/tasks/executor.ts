import type { Broker } from '../broker/broker.js';
import type { Db } from '../database/db.js';
import type { Queryable } from '../database/queryable.js';

/**
 * Where a call's statements run and where it publishes: the engine's own Db and broker unless
 * the caller passes another. The api role passes the admin pool (every session under
 * ADMIN_STATEMENT_TIMEOUT_MS) and a broker on it, so no API request holds an engine connection.
 */
export interface Executor {
  db: Db;
  broker: Broker;
}

/** Work done in the same transaction as a change, once its result is known (an audit row): both commit or neither. */
export type SameTransaction<R = number> = (tx: Queryable, changed: R) => Promise<void>;
