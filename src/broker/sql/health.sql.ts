import type { Statement } from '../../database/queryable.js';

/** The PostgreSQL transport's health probe: the database answers. */
export const PING: Statement = { text: 'SELECT 1' };
