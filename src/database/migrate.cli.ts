import { AppConfig } from '../config/app-config.js';
import { EnvValidationError } from '../config/env.schema.js';
import { migrateConfigured } from './migrate.js';

/** `npm run migration:run`: applies pending migrations (starting the embedded server if there is no DATABASE_URL). */
async function main(): Promise<void> {
  const applied = await migrateConfigured(AppConfig.fromEnv());
  console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'no pending migrations');
}

main().catch((err: unknown) => {
  console.error(err instanceof EnvValidationError ? err.message : `migration failed: ${(err as Error).message}`);
  process.exit(1);
});
