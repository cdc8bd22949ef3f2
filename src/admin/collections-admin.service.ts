import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { AuditService } from '../audit/audit.service.js';
import { inTransaction } from '../database/queryable.js';
import { AdminPool } from './admin-pool.js';
import { COLLECTION_BY_NAME, CollectionRow, LIST_COLLECTIONS, UPDATE_COLLECTION_FLAGS } from './sql/collections.sql.js';

/** Collections with the statistics the stats job last saved (never computed on request), and their flags. */
@Injectable()
export class CollectionsAdmin {
  private readonly pool: Pool;

  constructor(
    admin: AdminPool,
    private readonly audit: AuditService,
  ) {
    this.pool = admin.pool;
  }

  async list() {
    const { rows } = await this.pool.query<CollectionRow>(LIST_COLLECTIONS);
    return { items: rows.map(view) };
  }

  /** The saved stats row of a collection; undefined when there is no such collection. */
  async stats(name: string) {
    const { rows } = await this.pool.query<CollectionRow>(COLLECTION_BY_NAME, [name]);
    if (rows.length === 0) return undefined;
    const r = rows[0];
    return { collection: r.name, stats: r.stats, computedAt: r.computed_at, durationMs: r.duration_ms };
  }

  /** Sets `process` / `sync` and records who did it, in one transaction; undefined when there is no such collection. */
  async update(name: string, flags: { process?: boolean; sync?: boolean }, who: string) {
    const process = flags.process ?? null;
    const sync = flags.sync ?? null;
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ name: string }>(UPDATE_COLLECTION_FLAGS, [name, process, sync]);
      if (rows.length === 0) return undefined;
      await this.audit.record({ who, action: 'collection.update', target: { collection: name, ...flags }, count: 1 }, client);
      const { rows: [row] } = await client.query<CollectionRow>(COLLECTION_BY_NAME, [name]);
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
