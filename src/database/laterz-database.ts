import { OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { EmbeddedPostgresServer } from './embedded-postgres.js';
import { runMigrations } from './migrate.js';

/**
 * laterz's database, opened once before any provider uses a pool: the configured URL, or an
 * embedded server started under DATA_DIR; then laterz's migrations applied (advisory-locked).
 * The embedded server is stopped at application shutdown, after the pools that use it have closed
 * (DatabaseModule's providers depend on this one, so Nest shuts them down first).
 */
export class LaterzDatabase implements OnApplicationShutdown {
  private embedded?: EmbeddedPostgresServer;
  private opened?: Promise<string>;

  constructor(
    private readonly config: AppConfig,
    private readonly options: { migrate: boolean } = { migrate: true },
  ) {}

  /** The database's URL; the first call starts the embedded server (no DATABASE_URL) and applies the migrations. */
  open(): Promise<string> {
    return (this.opened ??= this.start());
  }

  /** Stops the embedded server, if this started one (a no-op otherwise, and the second time). */
  async stop(): Promise<void> {
    await this.embedded?.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  private async start(): Promise<string> {
    if (!this.config.databaseUrl) this.embedded = new EmbeddedPostgresServer({ dataDir: this.config.dataDir, port: this.config.embeddedPgPort });
    const url = this.config.databaseUrl ?? (await this.embedded!.start());
    try {
      if (this.options.migrate) await runMigrations(this.config, url);
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
    return url;
  }
}
