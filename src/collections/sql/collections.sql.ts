import type { Statement } from '../../database/queryable.js';

/** Collections with the statistics the stats job last saved. */

export interface CollectionRow {
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

/** Every collection by name (at most 10000). */
export const LIST_COLLECTIONS: Statement = { name: 'laterz_list_collections', text: `${COLLECTION_WITH_STATS} ORDER BY c.name LIMIT 10000` };

/** One collection by name ($1). */
export const COLLECTION_BY_NAME: Statement = { name: 'laterz_collection_by_name', text: `${COLLECTION_WITH_STATS} WHERE c.name = $1` };

/** Sets `process` ($2) and / or `sync` ($3) of collection $1 (null: unchanged); returns its name, or no row. */
export const UPDATE_COLLECTION_FLAGS: Statement = {
  name: 'laterz_update_collection_flags',
  text: `UPDATE collection SET process = coalesce($2::bool, process), sync = coalesce($3::bool, sync) WHERE name = $1 RETURNING name`,
};
