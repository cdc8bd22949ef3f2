import type { Statement } from '../../database/queryable.js';

/**
 * Creates collection $1 or updates it: `process` $2, `sync` $3, `options` $4 (JSON text); a null
 * leaves the column as it is (a new row: process true, sync false, no options).
 */
export const UPSERT_COLLECTION: Statement = {
  text: `
  INSERT INTO collection (name, process, sync, options)
  VALUES ($1, COALESCE($2, true), COALESCE($3, false), COALESCE($4::jsonb, '{}'::jsonb))
      ON CONFLICT (name) DO UPDATE SET process = COALESCE($2, collection.process), sync = COALESCE($3, collection.sync),
         options = COALESCE($4::jsonb, collection.options)`,
};
