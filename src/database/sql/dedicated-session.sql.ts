import type { Statement } from '../queryable.js';

/** The backend pid of a dedicated session (tests and the chaos suite find its locks and kill it by it). */
export const BACKEND_PID: Statement = { text: 'SELECT pg_backend_pid() AS pid' };
