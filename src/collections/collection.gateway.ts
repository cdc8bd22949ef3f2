import { Injectable } from '@nestjs/common';
import { Db } from '../database/db.js';
import { UPSERT_COLLECTION } from './sql/upsert-collection.sql.js';

/** The engine's statements on `collection` (its plain reads stay on the TypeORM repository). */
@Injectable()
export class CollectionGateway {
  constructor(private readonly db: Db) {}

  /** Creates the collection or sets the values given (undefined: unchanged). */
  async upsert(name: string, values: { process?: boolean; sync?: boolean; options?: Record<string, unknown> }): Promise<void> {
    await this.db.rows(UPSERT_COLLECTION, [name, values.process ?? null, values.sync ?? null, values.options ? JSON.stringify(values.options) : null]);
  }
}
