import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { AuditService } from '../audit/audit.service.js';
import { PG_POOL } from '../database/database.module.js';
import { inTransaction } from '../database/queryable.js';

interface CollectionRow {
  name: string;
  process: boolean;
  sync: boolean;
  created: Date;
  stats: Record<string, unknown> | null;
  computed_at: Date | null;
  duration_ms: number | null;
}

const COLLECTION_WITH_STATS = `
  SELECT c.name, c.process, c.sync, c.created, s.stats, s.computed_at, s.duration_ms
    FROM collection c LEFT JOIN collection_stats s ON s.collection = c.name`;

/** Collections with the statistics the stats job last saved (never computed on request), and their flags. */
@Injectable()
export class CollectionsAdmin {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly audit: AuditService,
  ) {}

  async list() {
    const { rows } = await this.pool.query<CollectionRow>(`${COLLECTION_WITH_STATS} ORDER BY c.name LIMIT 10000`);
    return { items: rows.map(view) };
  }

  /** The saved stats row of a collection; undefined when there is no such collection. */
  async stats(name: string) {
    const { rows } = await this.pool.query<CollectionRow>(`${COLLECTION_WITH_STATS} WHERE c.name = $1`, [name]);
    if (rows.length === 0) return undefined;
    const r = rows[0];
    return { collection: r.name, stats: r.stats, computedAt: r.computed_at, durationMs: r.duration_ms };
  }

  /** Sets `process` / `sync` and records who did it, in one transaction; undefined when there is no such collection. */
  async update(name: string, flags: { process?: boolean; sync?: boolean }, who: string) {
    const process = flags.process ?? null;
    const sync = flags.sync ?? null;
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ name: string }>(
        `UPDATE collection SET process = coalesce($2::bool, process), sync = coalesce($3::bool, sync) WHERE name = $1 RETURNING name`,
        [name, process, sync],
      );
      if (rows.length === 0) return undefined;
      await this.audit.record({ who, action: 'collection.update', target: { collection: name, ...flags }, count: 1 }, client);
      const { rows: [row] } = await client.query<CollectionRow>(`${COLLECTION_WITH_STATS} WHERE c.name = $1`, [name]);
      return view(row);
    });
  }
}

function view(r: CollectionRow) {
  return {
    name: r.name,
    process: r.process,
    sync: r.sync,
    created: r.created,
    stats: r.stats,
    statsComputedAt: r.computed_at,
    statsDurationMs: r.duration_ms,
  };
}
