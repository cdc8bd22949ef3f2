import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from '../database/data-source.js';
import { ENGINE_ENTITIES } from '../entities.js';

/**
 * The SQL TypeORM would run to bring the database at `url` in line with the entities;
 * empty when the migrations and the entities agree.
 */
export async function schemaDiff(config: AppConfig, url: string): Promise<string[]> {
  const ds = new DataSource(dataSourceOptions(config, url, { entities: ENGINE_ENTITIES, poolSize: 2 }));
  await ds.initialize();
  try {
    const sql = await ds.driver.createSchemaBuilder().log();
    return sql.upQueries.map((q) => q.query);
  } finally {
    await ds.destroy();
  }
}
