import { Injectable } from '@nestjs/common';
import { Db } from '../../database/db.js';
import { EXPIRE_WAITING } from './sql/expiry.sql.js';

export interface ExpiredRow {
  id: string;
  collection: string;
  func: string;
  attempt: number;
  fail_count: number;
}

/** The expiry sweep's statement. */
@Injectable()
export class ExpiryGateway {
  constructor(private readonly db: Db) {}

  /** Up to `limit` waiting tasks past their deadline become broken / expired; returns them. */
  expireWaiting(limit: number): Promise<ExpiredRow[]> {
    return this.db.rows<ExpiredRow>(EXPIRE_WAITING, [limit]);
  }
}
