import { Injectable } from '@nestjs/common';
import { PipelinePools } from './pipeline-pools.js';
import { COLLECTION_EXISTS, LIST_DIR, rows, SEARCH } from './sql/pipeline.sql.js';

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
 * pipeline's API pool, under ADMIN_STATEMENT_TIMEOUT_MS, never on the connections the workers need.
 */
@Injectable()
export class SearchService {
  constructor(private readonly pools: PipelinePools) {}

  async collectionExists(collection: string): Promise<boolean> {
    return (await rows(this.pools.api, COLLECTION_EXISTS, [collection])).length > 0;
  }

  search(collection: string, query: string, limit: number): Promise<SearchHit[]> {
    return rows<SearchHit>(this.pools.api, SEARCH, [collection, query, limit]);
  }

  async list(collection: string, dir: string, limit: number): Promise<TreeEntry[]> {
    const entries = await rows<TreeEntry & { size: string | null }>(this.pools.api, LIST_DIR, [collection, dir, limit]);
    return entries.map((r) => ({ ...r, size: r.size === null ? null : Number(r.size) }));
  }
}
