import { Injectable } from '@nestjs/common';
import { Db } from '../../database/db.js';
import { EXPIRE_WAITING } from './sql/expiry.sql.js';

/** The expiry sweep's statement. */
@Injectable()
export class ExpiryGateway {
  constructor(private readonly db: Db) {}

  /** Up to `limit` waiting tasks past their deadline become broken / expired; returns their ids. */
  async expireWaiting(limit: number): Promise<string[]> {
    return (await this.db.rows<{ id: string }>(EXPIRE_WAITING, [limit])).map((r) => r.id);
  }
}
