import type { ClientBase } from 'pg';
import type { EntityManager, QueryRunner } from 'typeorm';
import { pgQueryable, typeormQueryable, type Queryable } from './queryable.js';
import { PROBE_SAVEPOINT, RELEASE_ENQUEUE, RELEASE_PROBE, ROLLBACK_TO_ENQUEUE, SAVEPOINT_ENQUEUE } from './sql/session.sql.js';

/**
 * An application's own transaction to enqueue in: a TypeORM EntityManager or QueryRunner of any
 * DataSource (the application's, on PostgreSQL) inside a transaction, or a `pg` client (a Client,
 * or a pool's client) after its BEGIN.
 */
export type CallerTransaction = EntityManager | QueryRunner | ClientBase;

/** A caller's transaction, checked: statements run on `q`, inside it. */
export type JoinedTransaction =
  | { kind: 'typeorm'; runner: QueryRunner; q: Queryable }
  | { kind: 'pg'; q: Queryable }
  /** Not a transaction laterz can join; `reason` says why, for the caller's error. */
  | { kind: 'refused'; reason: string };

/** PostgreSQL's no_active_sql_transaction. */
const NOT_IN_TRANSACTION = '25P01';

type Loose = Record<string, unknown>;

/**
 * Checks that `tx` is inside a transaction and gives the way to run statements in it. Nothing is
 * written: a refused `tx` is left as it was (a pg client too old to say whether it is in a
 * transaction is asked with a SAVEPOINT, which fails outside one and is released inside).
 */
export async function joinTransaction(tx: CallerTransaction): Promise<JoinedTransaction> {
  const t = tx as unknown as Loose;
  if (t === null || typeof t !== 'object') return refused(`tx must be ${WHAT}, got ${t === null ? 'null' : typeof t}`);
  if (isEntityManager(t)) {
    const runner = (tx as EntityManager).queryRunner;
    if (!runner) {
      return refused(
        'the EntityManager is not a transaction\'s (a DataSource\'s own manager runs each statement on its own): pass the manager dataSource.transaction(manager => …) gives',
      );
    }
    return joinRunner(runner, "the EntityManager's transaction");
  }
  if (isQueryRunner(t)) return joinRunner(tx as QueryRunner, 'the QueryRunner');
  if (typeof t.connect === 'function' && 'totalCount' in t) {
    return refused('a pg Pool runs each query on any of its connections: pass the client you ran BEGIN on (await pool.connect())');
  }
  if (typeof t.query === 'function') return joinPgClient(tx as ClientBase);
  return refused(`tx must be ${WHAT}`);
}

const WHAT = 'a TypeORM EntityManager or QueryRunner, or a pg client, inside a transaction';

function refused(reason: string): JoinedTransaction {
  return { kind: 'refused', reason };
}

/** TypeORM marks its managers (across copies of the package): `@instanceof` is Symbol.for('EntityManager'). */
function isEntityManager(t: Loose): boolean {
  return t['@instanceof'] === Symbol.for('EntityManager') || ('queryRunner' in t && typeof t.transaction === 'function' && typeof t.getRepository === 'function');
}

function isQueryRunner(t: Loose): boolean {
  return typeof t.query === 'function' && typeof t.isTransactionActive === 'boolean' && typeof t.startTransaction === 'function';
}

function joinRunner(runner: QueryRunner, what: string): JoinedTransaction {
  const loose = runner as unknown as { dataSource?: { options?: { type?: string } }; connection?: { options?: { type?: string } } };
  const type = (loose.dataSource ?? loose.connection)?.options?.type;
  if (type !== undefined && type !== 'postgres') return refused(`${what} is on a "${type}" DataSource: laterz's tables are in PostgreSQL`);
  if (runner.isReleased) return refused(`${what} is released`);
  if (!runner.isTransactionActive) return refused(`${what} is not inside a transaction: start one (dataSource.transaction(manager => …), or queryRunner.startTransaction())`);
  return { kind: 'typeorm', runner, q: typeormQueryable(runner) };
}

async function joinPgClient(client: ClientBase): Promise<JoinedTransaction> {
  const q = pgQueryable(client);
  const status = typeof client.getTransactionStatus === 'function' ? client.getTransactionStatus() : null;
  if (status === 'I') return refused('the pg client is not inside a transaction: run BEGIN on it first');
  if (status === 'E') return refused('the pg client\'s transaction has failed (an earlier statement in it raised an error): roll it back');
  if (status === 'T') return { kind: 'pg', q };
  try {
    await q.rows(PROBE_SAVEPOINT, []);
  } catch (err) {
    if ((err as { code?: string }).code === NOT_IN_TRANSACTION) return refused('the pg client is not inside a transaction: run BEGIN on it first');
    throw err;
  }
  await q.rows(RELEASE_PROBE, []);
  return { kind: 'pg', q };
}

/**
 * Runs `work` in a savepoint of the caller's transaction: if it throws, what it wrote is rolled back
 * and the caller's transaction stays usable (its own work can still commit), never half of `work`.
 */
export async function inSavepoint<T>(q: Queryable, work: () => Promise<T>): Promise<T> {
  await q.rows(SAVEPOINT_ENQUEUE, []);
  try {
    const result = await work();
    await q.rows(RELEASE_ENQUEUE, []);
    return result;
  } catch (err) {
    await q.rows(ROLLBACK_TO_ENQUEUE, []);
    throw err;
  }
}
