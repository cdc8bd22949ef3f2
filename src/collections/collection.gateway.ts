import type { Db } from '../database/db.js';
import type { Queryable } from '../database/queryable.js';
import { COLLECTION_BY_NAME, type CollectionRow, LIST_COLLECTIONS, UPDATE_COLLECTION_FLAGS } from './sql/collections.sql.js';
import { UPSERT_COLLECTION } from './sql/upsert-collection.sql.js';

export type { CollectionRow };

/**
 * The statements on `collection` and its saved stats (its plain reads at boot stay on the TypeORM
 * repository): on the engine's Db, or the admin pool's for the API.
 */
export class CollectionGateway {
  constructor(private readonly db: Db) {}

  /** Creates the collection or sets the values given (undefined: unchanged). */
  async upsert(name: string, values: { process?: boolean; sync?: boolean; options?: Record<string, unknown> }): Promise<void> {
    await this.db.rows(UPSERT_COLLECTION, [name, values.process ?? null, values.sync ?? null, values.options ? JSON.stringify(values.options) : null]);
  }

  /** Every collection with its saved stats, by name. */
  list(): Promise<CollectionRow[]> {
    return this.db.rows<CollectionRow>(LIST_COLLECTIONS, []);
  }

  async byName(name: string, on: Queryable = this.db): Promise<CollectionRow | undefined> {
    const [row] = await on.rows<CollectionRow>(COLLECTION_BY_NAME, [name]);
    return row;
  }

  /** Sets the flags given (null: unchanged); false when there is no such collection. */
  async updateFlagsIfExists(tx: Queryable, name: string, flags: { process: boolean | null; sync: boolean | null }): Promise<boolean> {
    const rows = await tx.rows<{ name: string }>(UPDATE_COLLECTION_FLAGS, [name, flags.process, flags.sync]);
    return rows.length > 0;
  }
}
