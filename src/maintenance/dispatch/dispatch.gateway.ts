import { Injectable } from '@nestjs/common';
import type { PublishRef } from '../../broker/broker.js';
import { Db } from '../../database/db.js';
import type { Statement } from '../../database/queryable.js';
import {
  DISPATCH_PROBE,
  KILL_DEAD_STARTED,
  KilledRow,
  PEND_FAILED_TIER,
  PENDING_BEYOND,
  ProbeRow,
  QUEUE_DEFERRED_OLDEST,
  QUEUE_OUTDATED,
  QUEUE_PENDING_NEWEST,
  QUEUE_PENDING_OLDEST,
  QUEUE_RESYNC,
  RESET_LOST_QUEUED,
  SCHEDULE_KILLED_RETRY,
} from './sql/dispatch.sql.js';

export type { KilledRow, ProbeRow };

/** What DISPATCH_PROBE looks at: the collections and funcs of a tick, and the settings its tests use. */
export interface ProbeInput {
  collections: readonly { name: string; sync: boolean }[];
  /** `served`: a live server runs it (otherwise only its dead tasks are looked for). */
  funcs: readonly { name: string; version: number; resyncMs?: number; bulk: boolean; served: boolean }[];
  minAgeSeconds: number;
  retryTiers: readonly { minutes: number; failLimit: number }[];
  /** Look for `queued` rows the broker lost (AMQP). */
  lookForLost: boolean;
  queuedGraceSeconds: number;
  deadAfterSeconds: number;
}

/** One pair's slice: at most `limit` rows of `func` in `collection`. */
export interface Slice {
  collection: string;
  func: string;
  limit: number;
}

/**
 * The dispatcher's statements, on the engine's pool. Every change is guarded (it takes rows still in
 * the status it names, SKIP LOCKED) and each queueing method returns the rows it made `queued`.
 */
@Injectable()
export class DispatchGateway {
  constructor(private readonly db: Db) {}

  /** What each (collection, func) pair has to do this tick, in one statement. */
  probe(p: ProbeInput): Promise<ProbeRow[]> {
    return this.db.rows<ProbeRow>(DISPATCH_PROBE, [
      p.collections.map((c) => c.name),
      p.collections.map((c) => c.sync),
      p.funcs.map((f) => f.name),
      p.funcs.map((f) => f.version),
      p.funcs.map((f) => (f.resyncMs === undefined ? null : f.resyncMs / 1000)),
      p.funcs.map((f) => f.bulk),
      p.minAgeSeconds,
      p.retryTiers.map((t) => t.minutes),
      p.retryTiers.map((t) => t.failLimit),
      p.lookForLost,
      p.queuedGraceSeconds,
      p.deadAfterSeconds,
      p.funcs.map((f) => f.served),
    ]);
  }

  /** Started tasks of these collections and funcs whose worker is gone become broken/task_killed (at most `limit`). */
  killDeadStarted(collections: string[], funcs: string[], deadAfterSeconds: number, limit: number): Promise<KilledRow[]> {
    return this.db.rows<KilledRow>(KILL_DEAD_STARTED, [collections, funcs, deadAfterSeconds, limit]);
  }

  /** Killed tasks their policy retries: due `ms` milliseconds from now. */
  async scheduleKilledRetry(retries: readonly { id: string; ms: number }[]): Promise<void> {
    if (retries.length === 0) return;
    await this.db.rows(SCHEDULE_KILLED_RETRY, [retries.map((r) => r.id), retries.map((r) => r.ms)]);
  }

  /** Rows `queued` for longer than `graceSeconds` back to pending (the broker lost their messages); their ids. */
  async resetLostQueued(collection: string, func: string, graceSeconds: number): Promise<string[]> {
    const rows = await this.db.rows<{ id: string }>(RESET_LOST_QUEUED, [collection, func, graceSeconds]);
    return rows.map((r) => r.id);
  }

  /** Is the pair's pending backlog larger than `n`? */
  async pendingBeyond(collection: string, func: string, n: number): Promise<boolean> {
    const [row] = await this.db.rows<{ beyond: boolean }>(PENDING_BEYOND, [collection, func, n]);
    return row.beyond;
  }

  queuePendingNewest(s: Slice, minAgeSeconds: number): Promise<PublishRef[]> {
    return this.queue(QUEUE_PENDING_NEWEST, s, minAgeSeconds);
  }

  queuePendingOldest(s: Slice, minAgeSeconds: number): Promise<PublishRef[]> {
    return this.queue(QUEUE_PENDING_OLDEST, s, minAgeSeconds);
  }

  queueDeferredOldest(s: Slice, minAgeSeconds: number): Promise<PublishRef[]> {
    return this.queue(QUEUE_DEFERRED_OLDEST, s, minAgeSeconds);
  }

  /** Finished below `version` (the func's current one): queued again. */
  queueOutdated(s: Slice, version: number): Promise<PublishRef[]> {
    return this.queue(QUEUE_OUTDATED, s, version);
  }

  /** Successful tasks finished more than `seconds` ago: queued again. */
  queueResync(s: Slice, seconds: number): Promise<PublishRef[]> {
    return this.queue(QUEUE_RESYNC, s, seconds);
  }

  /** Failures of a bulk func in one retry tier (older than `minutes`, fewer than `failLimit` failures): back to pending, for the bulk runner; their ids. */
  async pendFailedTier(s: Slice, minutes: number, failLimit: number): Promise<string[]> {
    const rows = await this.db.rows<PublishRef>(PEND_FAILED_TIER, [s.collection, s.func, s.limit, minutes, failLimit]);
    return rows.map((r) => r.taskId);
  }

  private queue(statement: Statement, s: Slice, ...rest: unknown[]): Promise<PublishRef[]> {
    return this.db.rows<PublishRef>(statement, [s.collection, s.func, s.limit, ...rest]);
  }
}
