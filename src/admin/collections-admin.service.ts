import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { AdminPool } from './admin-pool.js';
import { CollectionGateway, type CollectionRow } from '../collections/collection.gateway.js';

/** Collections with the statistics the stats job last saved (never computed on request), and their flags. */
@Injectable()
export class CollectionsAdmin {
  private readonly collections: CollectionGateway;

  constructor(
    private readonly admin: AdminPool,
    private readonly audit: AuditService,
  ) {
    this.collections = new CollectionGateway(admin.db);
  }

  async list() {
    return { items: (await this.collections.list()).map(view) };
  }

  /** The saved stats row of a collection; undefined when there is no such collection. */
  async stats(name: string) {
    const r = await this.collections.byName(name);
    if (!r) return undefined;
    return { collection: r.name, stats: r.stats, computedAt: r.computed_at, durationMs: r.duration_ms };
  }

  /** Sets `process` / `sync` and records who did it, in one transaction; undefined when there is no such collection. */
  async update(name: string, flags: { process?: boolean; sync?: boolean }, who: string) {
    return this.admin.db.transaction(async (tx) => {
      if (!(await this.collections.updateFlagsIfExists(tx, name, { process: flags.process ?? null, sync: flags.sync ?? null }))) return undefined;
      await this.audit.record({ who, action: 'collection.update', target: { collection: name, ...flags }, count: 1 }, tx);
      return view((await this.collections.byName(name, tx))!);
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
