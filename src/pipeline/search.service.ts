import { Inject, Injectable } from '@nestjs/common';
import { Pool } from 'pg';
import { PG_POOL } from '../database/database.module.js';
import { pgQueryable } from '../tasks/sql/queryable.js';
import { LIST_DIR, SEARCH } from './sql/pipeline.sql.js';

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

/** Full-text search and tree browsing over what the pipeline ingested. */
@Injectable()
export class SearchService {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  search(collection: string, query: string, limit: number): Promise<SearchHit[]> {
    return pgQueryable(this.pool).rows<SearchHit>(SEARCH, [collection, query, limit]);
  }

  async list(collection: string, dir: string, limit: number): Promise<TreeEntry[]> {
    const rows = await pgQueryable(this.pool).rows<TreeEntry & { size: string | null }>(LIST_DIR, [collection, dir, limit]);
    return rows.map((r) => ({ ...r, size: r.size === null ? null : Number(r.size) }));
  }
}
