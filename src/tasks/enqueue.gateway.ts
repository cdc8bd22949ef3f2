import type { Queryable } from '../database/queryable.js';
import {
  DELETE_EXTRA_EDGES,
  ENSURE_COLLECTIONS,
  FIND_CYCLE,
  FIND_PARENTS,
  FIND_TASKS_BY_IDENTITY,
  GET_OR_CREATE_TASKS,
  RESET_EXISTING,
  type TaskIdentityRow,
  UPSERT_EDGES,
} from './sql/enqueue.sql.js';
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
}

/** An edge prev -> next, named as the child's handler sees its parent. */
export interface Edge {
  prev: string;
  next: string;
  name: string;
}

/**
 * The enqueue's statements (get-or-create of tasks and their edges), on `q`: the caller's
 * transaction, or a Db for the coalesced fast path. Each method is one statement. `ord` in the
 * rows it returns is the index of the task or identity in the list given.
 */
export class EnqueueGateway {
  constructor(private readonly q: Queryable) {}

  /** Makes the row of each collection that has none. */
  async ensureCollections(names: string[]): Promise<void> {
    await this.q.rows(ENSURE_COLLECTIONS, [names]);
  }

  /** Creates the tasks whose identity has none; returns every task, new (`created`) or existing. Rows another caller committed meanwhile are missing. */
  getOrCreate(tasks: readonly NewTask[]): Promise<(TaskIdentityRow & { created: boolean })[]> {
    return this.q.rows<TaskIdentityRow & { created: boolean }>(GET_OR_CREATE_TASKS, [
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
    ]);
  }

  /** The existing tasks of these identities. */
  findByIdentity(identities: readonly TaskIdentity[]): Promise<TaskIdentityRow[]> {
    return this.q.rows<TaskIdentityRow>(FIND_TASKS_BY_IDENTITY, [
      identities.map((r) => r.collection),
      identities.map((r) => r.func),
      identities.map((r) => r.hash),
      identities.map((_, i) => i),
    ]);
  }

  /** The collection of each of these tasks that exists. */
  findParents(ids: string[]): Promise<{ id: string; collection: string }[]> {
    return this.q.rows<{ id: string; collection: string }>(FIND_PARENTS, [ids]);
  }

  /** A new edge that would close a cycle, if any. */
  async findCycle(edges: readonly { prev: string; next: string }[]): Promise<{ prev: string; next: string } | undefined> {
    const [cycle] = await this.q.rows<{ prev: string; next: string }>(FIND_CYCLE, [edges.map((e) => e.prev), edges.map((e) => e.next)]);
    return cycle;
  }

  /** Adds the edges, or moves an edge of the same name to its new parent; returns the children whose edge is new or moved. */
  async upsertEdges(edges: readonly Edge[]): Promise<string[]> {
    const changed = await this.q.rows<{ next_id: string }>(UPSERT_EDGES, [edges.map((e) => e.prev), edges.map((e) => e.next), edges.map((e) => e.name)]);
    return changed.map((r) => r.next_id);
  }

  /** Drops the edges of `children` other than those named in `keep`. */
  async deleteExtraEdges(children: string[], keep: readonly { next: string; name: string }[]): Promise<void> {
    await this.q.rows(DELETE_EXTRA_EDGES, [children, keep.map((k) => k.next), keep.map((k) => k.name)]);
  }

  /**
   * Existing tasks to run: `rerun` ones from a final state, `queue` ones from pending (to `queued`
   * when `queue`, else `pending`); a row in any other status is left alone. Returns the rows changed.
   */
  resetExistingIfFinishedOrPending(resets: readonly { id: string; rerun: boolean; queue: boolean }[]): Promise<{ id: string; status: string }[]> {
    return this.q.rows<{ id: string; status: string }>(RESET_EXISTING, [resets.map((r) => r.id), resets.map((r) => r.rerun), resets.map((r) => r.queue)]);
  }
}
