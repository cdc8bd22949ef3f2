import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from '../database/data-source.js';
import { ENGINE_ENTITIES } from '../entities.js';

/**
 * The app's data source for the TypeORM CLI, e.g.
 * `DATABASE_URL=… npx typeorm migration:show -d dist/src/cli/data-source.js`.
 */
const config = AppConfig.fromEnv();
if (!config.databaseUrl) throw new Error('the TypeORM CLI needs DATABASE_URL');
export default new DataSource(dataSourceOptions(config, config.databaseUrl, { entities: ENGINE_ENTITIES, poolSize: 2 }));
