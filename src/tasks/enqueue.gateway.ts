import type { PublishRef } from '../broker/broker.js';
import type { Queryable } from '../database/queryable.js';
import { type EnqueueStatements, enqueueStatements, type TaskIdentityRow } from './sql/enqueue.sql.js';
import { TaskStatus } from './task-status.js';

export type { TaskIdentityRow };

/** A task's identity: one row per (collection, func, args hash). */
export interface TaskIdentity {
  collection: string;
  func: string;
  hash: Buffer;
}

/** A task to create if its identity has none. */
export interface NewTask extends TaskIdentity {
  /** Canonical JSON. */
  args: string;
  /** Created `queued` (handed to the broker at once) rather than `pending`. */
  queueNow: boolean;
  version: number;
  priority: number;
  runAfter: Date | null;
  sizeBytes: number;
  /** Deadline to start: a time, or milliseconds after the insert (database clock); neither: none. */
  expiresAt: Date | null;
  expireMs: number | null;
  /** JSON text of the retry override, or null. */
  retryPolicy: string | null;
}

/** An edge prev -> next, named as the child's handler sees its parent. */
export interface Edge {
  prev: string;
  next: string;
  name: string;
}

/** NOTIFY payloads stay under PostgreSQL's 8000 bytes. */
const MAX_PAYLOAD = 7900;

/**
 * The enqueue's statements (get-or-create of tasks and their edges), on `q`: the caller's
 * transaction (laterz's own or an application's), or a Db for the coalesced fast path. Each method
 * is one statement, schema-qualified (EnqueueGateway.forSchema). `ord` in the rows it returns is the
 * index of the task or identity in the list given.
 */
export class EnqueueGateway {
  private constructor(
    private readonly q: Queryable,
    private readonly sql: EnqueueStatements,
  ) {}

  /** Gateways on the tables of `schema`, on whatever Queryable they are given (the statements are built once). */
  static forSchema(schema: string): (q: Queryable) => EnqueueGateway {
    const sql = enqueueStatements(schema);
    return (q) => new EnqueueGateway(q, sql);
  }

  /** Makes the row of each collection that has none. */
  async ensureCollections(names: string[]): Promise<void> {
    await this.q.rows(this.sql.ensureCollections, [names]);
  }

  /** Creates the tasks whose identity has none; returns every task, new (`created`) or existing. Rows another caller committed meanwhile are missing. */
  getOrCreate(tasks: readonly NewTask[]): Promise<(TaskIdentityRow & { created: boolean })[]> {
    return this.q.rows<TaskIdentityRow & { created: boolean }>(this.sql.getOrCreate, [
      tasks.map((t) => t.collection),
      tasks.map((t) => t.func),
      tasks.map((t) => t.args),
      tasks.map((t) => t.hash),
      tasks.map((t) => (t.queueNow ? TaskStatus.Queued : TaskStatus.Pending)),
      tasks.map((t) => t.version),
      tasks.map((t) => t.priority),
      tasks.map((t) => t.runAfter),
      tasks.map((t) => t.sizeBytes),
      tasks.map((_, i) => i),
      tasks.map((t) => t.expiresAt),
      tasks.map((t) => t.expireMs),
      tasks.map((t) => t.retryPolicy),
    ]);
  }

  /** Queue caps: waits for (and holds until the transaction ends) the cap lock of each func. */
  async lockCaps(funcs: readonly string[]): Promise<void> {
    await this.q.rows(this.sql.lockCaps, [funcs]);
  }

  /** Waiting tasks of each func, counted up to `upto` each (`bounded`), or in full. */
  countWaiting(funcs: readonly { func: string; upto: number }[], bounded: boolean): Promise<{ func: string; depth: number }[]> {
    return this.q.rows<{ func: string; depth: number }>(this.sql.countWaiting, [funcs.map((f) => f.func), funcs.map((f) => f.upto), bounded]);
  }

  /** The existing tasks of these identities. */
  findByIdentity(identities: readonly TaskIdentity[]): Promise<TaskIdentityRow[]> {
    return this.q.rows<TaskIdentityRow>(this.sql.findByIdentity, [
      identities.map((r) => r.collection),
      identities.map((r) => r.func),
      identities.map((r) => r.hash),
      identities.map((_, i) => i),
    ]);
  }

  /** The collection of each of these tasks that exists. */
  findParents(ids: string[]): Promise<{ id: string; collection: string }[]> {
    return this.q.rows<{ id: string; collection: string }>(this.sql.findParents, [ids]);
  }

  /** A new edge that would close a cycle, if any. */
  async findCycle(edges: readonly { prev: string; next: string }[]): Promise<{ prev: string; next: string } | undefined> {
    const [cycle] = await this.q.rows<{ prev: string; next: string }>(this.sql.findCycle, [edges.map((e) => e.prev), edges.map((e) => e.next)]);
    return cycle;
  }

  /** Adds the edges, or moves an edge of the same name to its new parent; returns the children whose edge is new or moved. */
  async upsertEdges(edges: readonly Edge[]): Promise<string[]> {
    const changed = await this.q.rows<{ next_id: string }>(this.sql.upsertEdges, [edges.map((e) => e.prev), edges.map((e) => e.next), edges.map((e) => e.name)]);
    return changed.map((r) => r.next_id);
  }

  /** Drops the edges of `children` other than those named in `keep`. */
  async deleteExtraEdges(children: string[], keep: readonly { next: string; name: string }[]): Promise<void> {
    await this.q.rows(this.sql.deleteExtraEdges, [children, keep.map((k) => k.next), keep.map((k) => k.name)]);
  }

  /**
   * Existing tasks to run: `rerun` ones from a final state, `queue` ones from pending (to `queued`
   * when `queue`, else `pending`); a row in any other status is left alone. Returns the rows changed.
   */
  resetExistingIfFinishedOrPending(resets: readonly { id: string; rerun: boolean; queue: boolean }[]): Promise<{ id: string; status: string }[]> {
    return this.q.rows<{ id: string; status: string }>(this.sql.resetExisting, [resets.map((r) => r.id), resets.map((r) => r.rerun), resets.map((r) => r.queue)]);
  }

  /** The refs of those tasks that are still `queued`. */
  queuedRefs(ids: readonly string[]): Promise<PublishRef[]> {
    return this.q.rows<PublishRef>(this.sql.queuedRefs, [ids]);
  }

  /**
   * NOTIFYs `ids` on `channel` (comma-separated, split under PostgreSQL's payload limit); in a
   * transaction, the listener gets them at its commit, never after a rollback.
   */
  async notifyIds(channel: string, ids: readonly string[]): Promise<void> {
    const payloads: string[] = [];
    let current = '';
    for (const id of ids) {
      if (current.length + id.length + 1 > MAX_PAYLOAD) {
        payloads.push(current);
        current = '';
      }
      current = current ? `${current},${id}` : id;
    }
    payloads.push(current);
    await this.q.rows(this.sql.notifyEach, [channel, payloads]);
  }
}
