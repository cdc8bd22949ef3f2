import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { PublishRef } from '../broker/broker.js';
import { argsHash, canonicalJson } from './canonical-json.js';
import { dependencyId, EnqueueRequest, TaskHandle } from './enqueue-request.js';
import type { Queryable } from '../database/queryable.js';
import { EnqueueGateway, TaskIdentityRow } from './enqueue.gateway.js';
import { FuncCatalog } from './func-catalog.js';
import { DEFAULT_RETRY, resolveRetryPolicy } from './retry-policy.js';
import { parseDuration } from './task-handler.decorator.js';
import { TaskStatus } from './task-status.js';
import {
  ArgsTooLarge,
  CrossCollectionDependency,
  DependencyCycle,
  InvalidArgs,
  InvalidCollection,
  QueueFull,
  TaskNotFound,
  UnknownFunc,
} from './tasks.errors.js';

const COLLECTION_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const DEP_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** A request checked against the catalog of funcs and the limits, ready to be written. */
export interface PreparedEnqueue {
  key: string;
  collection: string;
  func: string;
  args: string;
  hash: Buffer;
  bulk: boolean;
  version: number;
  priority: number;
  runAfter: Date | null;
  /** The enqueue's override of the func's retry policy, as JSON text; null: none. */
  retryPolicy: string | null;
  sizeBytes: number;
  deps: { name: string; prevId: string }[];
  retry: boolean;
  queueNow: boolean;
  deleteExtraDeps: boolean;
  expiresAt: Date | null;
  expireMs: number | null;
  /** The func's cap on waiting tasks, if it has one. */
  maxQueued?: number;
}

export interface WriteResult {
  handles: TaskHandle[];
  /** Tasks now `queued`: publish them once the transaction has committed. */
  toPublish: PublishRef[];
  /** Collections this write made the row of (if missing): see `committed`. */
  ensured: string[];
}

/** get-or-create of tasks and their edges: a fixed number of statements per batch. */
@Injectable()
export class EnqueueWriter {
  /**
   * Collections whose row this process has seen committed; the others get an INSERT … ON CONFLICT.
   * Only a committed write adds to it: a rolled-back one took its collection row with it.
   */
  private readonly knownCollections = new Set<string>(['default']);
  /** The statements name DB_SCHEMA: they also run in an application's transaction, on its search_path. */
  private readonly gateway: (q: Queryable) => EnqueueGateway;

  constructor(
    private readonly catalog: FuncCatalog,
    private readonly config: AppConfig,
  ) {
    this.gateway = EnqueueGateway.forSchema(config.dbSchema);
  }

  /**
   * Validates requests, in order (the first bad one is thrown, as a typed error naming the
   * problem). Touches the database only for a func this process has no handler for and has not
   * seen recorded yet (FuncCatalog.resolve).
   */
  async prepare(requests: readonly EnqueueRequest[]): Promise<PreparedEnqueue[]> {
    for (const name of new Set(requests.map((r) => r.func))) {
      if (typeof name === 'string' && !this.catalog.get(name)) await this.catalog.resolve(name);
    }
    return requests.map((r) => this.prepareKnown(r));
  }

  /** One request, its func looked up in the catalog as it is now. */
  private prepareKnown(request: EnqueueRequest): PreparedEnqueue {
    const func = this.catalog.get(request.func);
    if (!func) throw new UnknownFunc(request.func);
    const collection = request.collection ?? 'default';
    if (typeof collection !== 'string' || !COLLECTION_NAME.test(collection)) throw new InvalidCollection(String(collection));
    let args: string;
    try {
      args = canonicalJson(request.args ?? null);
    } catch (err) {
      throw new InvalidArgs(request.func, (err as Error).message);
    }
    const bytes = Buffer.byteLength(args);
    if (bytes > this.config.limits.argsBytes) throw new ArgsTooLarge(request.func, bytes, this.config.limits.argsBytes);
    const deps = Object.entries(request.dependsOn ?? {}).map(([name, ref]) => {
      if (!DEP_NAME.test(name)) throw new InvalidArgs(request.func, `dependency name ${JSON.stringify(name)} must be 1-100 letters, digits, _ . -`);
      const prevId = dependencyId(ref);
      if (!/^\d{1,19}$/.test(prevId)) throw new InvalidArgs(request.func, `dependency "${name}" is not a task id: ${JSON.stringify(prevId)}`);
      return { name, prevId };
    });
    const priority = request.priority ?? func.priority;
    if (!Number.isInteger(priority) || priority < 0 || priority > 9) throw new InvalidArgs(request.func, `priority must be 0-9, got ${priority}`);
    const runAfter = request.runAfter ?? null;
    if (runAfter !== null && (!(runAfter instanceof Date) || Number.isNaN(runAfter.getTime()))) {
      throw new InvalidArgs(request.func, 'runAfter must be a valid Date');
    }
    let retryPolicy: string | null = null;
    if (request.retryPolicy !== undefined) {
      try {
        resolveRetryPolicy(request.retryPolicy, 'retryPolicy', DEFAULT_RETRY, true);
      } catch (err) {
        throw new InvalidArgs(request.func, (err as Error).message);
      }
      retryPolicy = JSON.stringify(request.retryPolicy);
    }
    const sizeBytes = request.sizeBytes ?? bytes;
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) throw new InvalidArgs(request.func, `sizeBytes must be a whole number >= 0`);
    const { expiresAt, expireMs } = expiryOf(request, func.expireInMs);
    const hash = argsHash(args);
    const queueNow = (request.queueNow ?? true) && !func.bulk && (runAfter === null || runAfter.getTime() <= Date.now());
    return {
      key: `${collection}\u0000${func.name}\u0000${hash.toString('hex')}`,
      collection,
      func: func.name,
      args,
      hash,
      bulk: func.bulk,
      version: func.version,
      priority,
      runAfter,
      retryPolicy,
      sizeBytes,
      deps,
      retry: request.retry ?? false,
      queueNow,
      deleteExtraDeps: request.deleteExtraDeps ?? false,
      expiresAt,
      expireMs,
      ...(func.maxQueued === undefined ? {} : { maxQueued: func.maxQueued }),
    };
  }

  /**
   * Writes prepared requests in the caller's transaction. Throws (and the caller rolls back) on a
   * missing parent, a parent in another collection, or a cycle: nothing is half-written.
   * Returns one handle per request, in order.
   */
  async write(q: Queryable, requests: PreparedEnqueue[]): Promise<WriteResult> {
    const store = this.gateway(q);
    const unique = this.merge(requests);
    await this.checkParents(store, unique);
    const newCollections = [...new Set(unique.map((r) => r.collection))].filter((c) => !this.knownCollections.has(c));
    if (newCollections.length > 0) await store.ensureCollections(newCollections);

    // Created first, inside the caller's transaction (a cycle found below rolls it back): finding
    // the existing rows first cost a lookup per identity, slow on a table whose statistics lag.
    const capped = [...new Set(unique.filter((r) => r.maxQueued !== undefined).map((r) => r.func))];
    if (capped.length > 0) await store.lockCaps(capped);
    const { byKey, created } = await this.getOrCreate(store, unique);
    if (capped.length > 0) await this.checkCaps(store, unique, byKey, created);
    const existedBefore = new Set([...byKey.values()].map((r) => r.id).filter((id) => !created.has(id)));
    await this.checkCycles(store, unique, new Map([...byKey].filter(([, row]) => existedBefore.has(row.id))));

    const rerun = new Set<string>();
    const edges = unique.flatMap((r) => r.deps.map((d) => ({ prev: d.prevId, next: byKey.get(r.key)!.id, name: d.name })));
    if (edges.length > 0) {
      for (const next of await store.upsertEdges(edges)) if (!created.has(next)) rerun.add(next);
    }
    const pruned = unique.filter((r) => r.deleteExtraDeps && existedBefore.has(byKey.get(r.key)!.id));
    if (pruned.length > 0) {
      const keep = pruned.flatMap((r) => r.deps.map((d) => ({ next: byKey.get(r.key)!.id, name: d.name })));
      await store.deleteExtraEdges(pruned.map((r) => byKey.get(r.key)!.id), keep);
    }

    const resets = unique.filter((r) => {
      const row = byKey.get(r.key)!;
      if (created.has(row.id)) return false;
      return r.retry || rerun.has(row.id) || (r.queueNow && row.status === TaskStatus.Pending);
    });
    await this.reset(store, resets, byKey, (r) => r.retry || rerun.has(byKey.get(r.key)!.id));

    return { ...this.result(requests, unique, byKey, created, new Set(resets.map((r) => r.key))), ensured: newCollections };
  }

  /** Tells the writer a write's transaction committed: its collections' rows exist from now on. */
  committed(result: WriteResult): void {
    for (const c of result.ensured) this.knownCollections.add(c);
  }

  /**
   * The coalesced enqueue's fast path: calls without dependencies, retry or deleteExtraDeps into
   * known collections, written outside any transaction (each row stands alone) in one statement,
   * plus one more for a row another caller committed meanwhile and one for pending rows the call
   * queues. Returns undefined when a request needs the transactional write().
   */
  async writeSimple(q: Queryable, requests: PreparedEnqueue[]): Promise<WriteResult | undefined> {
    if (requests.some((r) => r.deps.length > 0 || r.retry || r.deleteExtraDeps || r.maxQueued !== undefined || !this.knownCollections.has(r.collection))) return undefined;
    const store = this.gateway(q);
    const unique = this.merge(requests);
    const { byKey, created } = await this.getOrCreate(store, unique);
    const resets = unique.filter((r) => r.queueNow && !created.has(byKey.get(r.key)!.id) && byKey.get(r.key)!.status === TaskStatus.Pending);
    await this.reset(store, resets, byKey, () => false);
    return { ...this.result(requests, unique, byKey, created, new Set(resets.map((r) => r.key))), ensured: [] };
  }

  /**
   * get-or-create of the identities: one statement, plus one more for rows a concurrent caller
   * committed meanwhile (ON CONFLICT skipped them, the statement's snapshot did not see them).
   */
  private async getOrCreate(store: EnqueueGateway, unique: PreparedEnqueue[]): Promise<{ byKey: Map<string, TaskIdentityRow>; created: Set<string> }> {
    const byKey = new Map<string, TaskIdentityRow>();
    const created = new Set<string>();
    for (const row of await store.getOrCreate(unique)) {
      byKey.set(unique[row.ord!].key, row);
      if (row.created) created.add(row.id);
    }
    const missing = unique.filter((r) => !byKey.has(r.key));
    if (missing.length > 0) {
      const found = await store.findByIdentity(missing);
      for (const row of found) byKey.set(missing[row.ord!].key, row);
      if (found.length < missing.length) throw new Error(`enqueue could not create or find ${missing.length - found.length} task(s)`);
    }
    return { byKey, created };
  }

  /**
   * Existing tasks the calls want to run: `rerun` ones (retry, a new edge) from a final state,
   * queueNow ones from pending. Updates `byKey` with the status each now has.
   */
  private async reset(store: EnqueueGateway, resets: PreparedEnqueue[], byKey: Map<string, TaskIdentityRow>, rerun: (r: PreparedEnqueue) => boolean): Promise<void> {
    if (resets.length === 0) return;
    const updated = await store.resetExistingIfFinishedOrPending(
      resets.map((r) => ({ id: byKey.get(r.key)!.id, rerun: rerun(r), queue: !r.bulk && (r.queueNow || rerun(r)) })),
    );
    const statusById = new Map(updated.map((u) => [u.id, u.status]));
    for (const r of resets) {
      const row = byKey.get(r.key)!;
      const status = statusById.get(row.id);
      if (status) byKey.set(r.key, { ...row, status });
    }
  }

  /** Handles in request order, and the rows this write made `queued` (to publish after the commit). */
  private result(
    requests: PreparedEnqueue[],
    unique: PreparedEnqueue[],
    byKey: Map<string, TaskIdentityRow>,
    created: Set<string>,
    resetKeys: Set<string>,
  ): Omit<WriteResult, 'ensured'> {
    const toPublish: PublishRef[] = [];
    const publishedIds = new Set<string>();
    for (const r of unique) {
      const row = byKey.get(r.key)!;
      const fresh = created.has(row.id) || resetKeys.has(r.key);
      if (fresh && row.status === TaskStatus.Queued && !publishedIds.has(row.id)) {
        publishedIds.add(row.id);
        toPublish.push({ collection: row.collection, taskId: row.id, func: row.func, priority: row.priority });
      }
    }
    // Of several requests for one new task, the first is the one that created it.
    const reported = new Set<string>();
    const handles = requests.map((r) => {
      const row = byKey.get(r.key)!;
      const isNew = created.has(row.id) && !reported.has(row.id);
      reported.add(row.id);
      return { id: row.id, collection: row.collection, func: row.func, status: row.status as TaskStatus, created: isNew };
    });
    return { handles, toPublish };
  }

  /** Folds requests for one identity together (50 callers of one call make one row). */
  private merge(requests: PreparedEnqueue[]): PreparedEnqueue[] {
    const byKey = new Map<string, PreparedEnqueue>();
    for (const r of requests) {
      const seen = byKey.get(r.key);
      if (!seen) {
        byKey.set(r.key, { ...r, deps: [...r.deps] });
        continue;
      }
      seen.retry ||= r.retry;
      seen.queueNow ||= r.queueNow;
      seen.deleteExtraDeps ||= r.deleteExtraDeps;
      for (const d of r.deps) {
        const i = seen.deps.findIndex((x) => x.name === d.name);
        if (i >= 0) seen.deps[i] = d;
        else seen.deps.push(d);
      }
    }
    return [...byKey.values()];
  }

  /**
   * Queue caps, after the inserts (under the caps' locks, in the write's transaction): a capped func
   * that got new tasks and now has more than its cap waiting throws QueueFull, and the caller rolls
   * the whole write back. A fixed number of statements: one bounded count (cap + 1 index entries
   * per func at most), and one full count only to say how deep the queue is when it refuses.
   */
  private async checkCaps(store: EnqueueGateway, unique: PreparedEnqueue[], byKey: Map<string, TaskIdentityRow>, created: Set<string>): Promise<void> {
    const adding = new Map<string, { cap: number; n: number }>();
    for (const r of unique) {
      if (r.maxQueued === undefined || !created.has(byKey.get(r.key)!.id)) continue;
      const a = adding.get(r.func) ?? { cap: r.maxQueued, n: 0 };
      a.n++;
      adding.set(r.func, a);
    }
    if (adding.size === 0) return;
    const funcs = [...adding].map(([func, a]) => ({ func, upto: a.cap + 1 }));
    const over = (await store.countWaiting(funcs, true)).filter((c) => c.depth > adding.get(c.func)!.cap);
    if (over.length === 0) return;
    const [full] = await store.countWaiting([{ func: over[0].func, upto: 0 }], false);
    const a = adding.get(full.func)!;
    throw new QueueFull(full.func, a.cap, full.depth - a.n, a.n);
  }

  private async checkParents(store: EnqueueGateway, requests: PreparedEnqueue[]): Promise<void> {
    const ids = [...new Set(requests.flatMap((r) => r.deps.map((d) => d.prevId)))];
    if (ids.length === 0) return;
    const rows = await store.findParents(ids);
    const collectionOf = new Map(rows.map((r) => [r.id, r.collection]));
    for (const r of requests) {
      for (const d of r.deps) {
        const parentCollection = collectionOf.get(d.prevId);
        if (parentCollection === undefined) throw new TaskNotFound(d.prevId);
        if (parentCollection !== r.collection) throw new CrossCollectionDependency(d.name, d.prevId, parentCollection, r.collection);
      }
    }
  }

  /** Only edges into tasks that already exist can close a cycle: a new task has no children. */
  private async checkCycles(store: EnqueueGateway, requests: PreparedEnqueue[], existing: Map<string, TaskIdentityRow>): Promise<void> {
    const edges = requests.flatMap((r) => {
      const next = existing.get(r.key)?.id;
      return next === undefined ? [] : r.deps.map((d) => ({ prev: d.prevId, next }));
    });
    if (edges.length === 0) return;
    const cycle = await store.findCycle(edges);
    if (cycle) throw new DependencyCycle(cycle.prev, cycle.next);
  }
}

/** A request's deadline to start: `expiresAt`, or `expireIn` (else the func's) after the insert; both given is an error. */
function expiryOf(request: EnqueueRequest, funcDefaultMs: number | undefined): { expiresAt: Date | null; expireMs: number | null } {
  if (request.expiresAt !== undefined && request.expireIn !== undefined) throw new InvalidArgs(request.func, 'give expiresAt or expireIn, not both');
  if (request.expiresAt !== undefined) {
    if (!(request.expiresAt instanceof Date) || Number.isNaN(request.expiresAt.getTime())) throw new InvalidArgs(request.func, 'expiresAt must be a valid Date');
    return { expiresAt: request.expiresAt, expireMs: null };
  }
  if (request.expireIn !== undefined) {
    try {
      return { expiresAt: null, expireMs: parseDuration(request.expireIn, 'expireIn') };
    } catch (err) {
      throw new InvalidArgs(request.func, (err as Error).message);
    }
  }
  return { expiresAt: null, expireMs: funcDefaultMs ?? null };
}
