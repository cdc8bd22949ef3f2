import { AppConfig } from '../config/app-config.js';
import { EnvValidationError } from '../config/env.schema.js';
import { EmbeddedPostgresServer } from './embedded-postgres.js';
import { runMigrations } from './migrate.js';

/** `npm run migration:run`: applies pending migrations (starting the embedded server if there is no DATABASE_URL). */
async function main(): Promise<void> {
  const config = AppConfig.fromEnv();
  const embedded = config.databaseUrl ? undefined : new EmbeddedPostgresServer({ dataDir: config.dataDir, port: config.embeddedPgPort });
  const url = config.databaseUrl ?? (await embedded!.start());
  try {
    const applied = await runMigrations(config, url);
    console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'no pending migrations');
  } finally {
    await embedded?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof EnvValidationError ? err.message : `migration failed: ${(err as Error).message}`);
  process.exit(1);
});
