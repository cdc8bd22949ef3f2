import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { AdminPool } from '../admin/admin-pool.js';
import { pgQueryable } from '../tasks/sql/queryable.js';
import { COLLECTION_EXISTS, LIST_DIR, SEARCH } from './sql/pipeline.sql.js';

export interface SearchHit {
  blob: string;
  rank: number;
  snippet: string;
  paths: string[];
}

export interface TreeEntry {
  path: string;
  kind: 'file' | 'dir';
  size: number | null;
  blob: string | null;
  mime: string | null;
}

/**
 * Full-text search and tree browsing over what the pipeline ingested. API reads: they run on the
 * admin pool, under ADMIN_STATEMENT_TIMEOUT_MS, never on the connections the workers need.
 */
@Injectable()
export class SearchService {
  private readonly pool: Pool;

  constructor(admin: AdminPool) {
    this.pool = admin.pool;
  }

  async collectionExists(collection: string): Promise<boolean> {
    return (await pgQueryable(this.pool).rows(COLLECTION_EXISTS, [collection])).length > 0;
  }

  search(collection: string, query: string, limit: number): Promise<SearchHit[]> {
    return pgQueryable(this.pool).rows<SearchHit>(SEARCH, [collection, query, limit]);
  }

  async list(collection: string, dir: string, limit: number): Promise<TreeEntry[]> {
    const rows = await pgQueryable(this.pool).rows<TreeEntry & { size: string | null }>(LIST_DIR, [collection, dir, limit]);
    return rows.map((r) => ({ ...r, size: r.size === null ? null : Number(r.size) }));
  }
}
