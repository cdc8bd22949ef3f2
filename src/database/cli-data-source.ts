import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source.js';

/**
 * The app's data source for the TypeORM CLI, e.g.
 * `DATABASE_URL=… npx typeorm migration:show -d dist/src/database/cli-data-source.js`.
 */
const config = AppConfig.fromEnv();
if (!config.databaseUrl) throw new Error('the TypeORM CLI needs DATABASE_URL');
export default new DataSource(dataSourceOptions(config, config.databaseUrl, 2));
