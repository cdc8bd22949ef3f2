import type { Db } from '../database/db.js';
import type { Queryable } from '../database/queryable.js';
import { COLLECTION_BY_NAME, type CollectionRow, LIST_COLLECTIONS, UPDATE_COLLECTION_FLAGS } from './sql/collections.sql.js';

export type { CollectionRow };

/** The admin API's statements on `collection` and its saved stats, on the admin pool's Db. */
export class CollectionsGateway {
  constructor(private readonly db: Db) {}

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
