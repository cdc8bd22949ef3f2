import type { Pool, PoolClient } from 'pg';
import type { Broker } from '../broker/broker.js';

/**
 * Where a call's statements run and where it publishes: the engine's own pool and broker unless
 * the caller passes another. The api role passes the admin pool (every session under
 * ADMIN_STATEMENT_TIMEOUT_MS) and a broker on it, so no API request holds an engine connection.
 */
export interface Executor {
  pool: Pool;
  broker: Broker;
}

/** Work done in the same transaction as a change, once its result is known (an audit row): both commit or neither. */
export type SameTransaction<R = number> = (client: PoolClient, changed: R) => Promise<void>;
