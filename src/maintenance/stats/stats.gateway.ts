import { Injectable } from '@nestjs/common';
import { Db } from '../../database/db.js';
import type { Queryable } from '../../database/queryable.js';
import {
  SAVE_STATS,
  SEQSCAN_OFF,
  STATS_COUNTS,
  STATS_OLDEST_PENDING,
  STATS_REASONS,
  STATS_RECENT,
  StatsCountRow,
  StatsOldestPendingRow,
  StatsReasonRow,
  StatsRecentRow,
} from './sql/stats.sql.js';

export type { StatsCountRow, StatsReasonRow, StatsRecentRow };

/** The stats job's reads of one collection's tasks, and the write of what it computed (collection_stats). */
@Injectable()
export class StatsGateway {
  constructor(private readonly db: Db) {}

  /**
   * Counts by func and status (outdated ones too, below each func's current version: `funcs` /
   * `versions`), with sequential scans off for the rest of `tx`, which must be a transaction
   * (SET LOCAL): a collection holding a large share of the table tempts the planner into a scan of
   * the whole table, where the index-only scan reads this collection's entries and nothing else.
   */
  async countsWithoutSeqscan(tx: Queryable, collection: string, funcs: string[], versions: number[]): Promise<StatsCountRow[]> {
    await tx.rows(SEQSCAN_OFF, []);
    return tx.rows<StatsCountRow>(STATS_COUNTS, [collection, funcs, versions]);
  }

  /** Finished over the last 1, 5 and 60 minutes, and duration percentiles, per func of `funcs`. */
  recent(collection: string, funcs: string[]): Promise<StatsRecentRow[]> {
    return this.db.rows<StatsRecentRow>(STATS_RECENT, [collection, funcs]);
  }

  /** Seconds since the oldest pending task of `funcs` was last changed; null when none is pending. */
  async oldestPendingSeconds(collection: string, funcs: string[]): Promise<number | null> {
    const rows = await this.db.rows<StatsOldestPendingRow>(STATS_OLDEST_PENDING, [collection, funcs]);
    return rows[0]?.seconds ?? null;
  }

  /** The commonest broken reasons and error messages (over each func's latest `errorsSampled` errors). */
  topReasons(collection: string, funcs: string[], errorsSampled: number): Promise<StatsReasonRow[]> {
    return this.db.rows<StatsReasonRow>(STATS_REASONS, [collection, funcs, errorsSampled]);
  }

  /** Saves (inserts or replaces) the collection's statistics. */
  async save(collection: string, stats: unknown, durationMs: number): Promise<void> {
    await this.db.rows(SAVE_STATS, [collection, JSON.stringify(stats), durationMs]);
  }
}
