import { BeforeApplicationShutdown, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { Pool } from 'pg';
import { AppConfig, DATABASE_URL } from '../../src/index.js';

/**
 * The pipeline's own connections, as any app on laterz has its own: one pool for its handlers and
 * the demo's progress, and with the api role a small one for its search routes whose sessions stop
 * any statement after ADMIN_STATEMENT_TIMEOUT_MS (a slow search never holds a worker's connection).
 * Both on laterz's database and schema (the pipeline's tables live beside laterz's).
 */
@Injectable()
export class PipelinePools implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(PipelinePools.name);
  private readonly opened: Pool[] = [];
  /** Set once the app shuts down: an embedded server stopping may end an idle connection before the pools close. */
  private closing = false;

  constructor(
    private readonly config: AppConfig,
    @Inject(DATABASE_URL) private readonly url: string,
  ) {}

  /** For the handlers and the progress reads: opened on first use. */
  get work(): Pool {
    return (this.workPool ??= this.open('laterz-pipeline', Math.max(2, Math.floor(this.config.dbPoolSize / 2))));
  }

  /** For API reads: each statement bounded by ADMIN_STATEMENT_TIMEOUT_MS, sized like laterz's admin pool. */
  get api(): Pool {
    return (this.apiPool ??= this.open('laterz-pipeline-api', Math.max(2, Math.floor(this.config.dbPoolSize / 2)), this.config.admin.statementTimeoutMs));
  }

  private workPool?: Pool;
  private apiPool?: Pool;

  private open(applicationName: string, max: number, statementTimeoutMs?: number): Pool {
    const pool = new Pool({
      connectionString: this.url,
      max,
      application_name: applicationName,
      options: `-c search_path=${this.config.dbSchema}`,
      ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs, connectionTimeoutMillis: statementTimeoutMs } : {}),
    });
    pool.on('error', (err) => {
      if (!this.closing) this.logger.warn(`idle pipeline connection failed: ${err.message}`);
    });
    this.opened.push(pool);
    return pool;
  }

  beforeApplicationShutdown(): void {
    this.closing = true;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.opened.map((pool) => pool.end().catch(() => undefined)));
  }
}

/** One PipelinePools per process, for the pipeline's module and its API module. */
@Module({ providers: [PipelinePools], exports: [PipelinePools] })
export class PipelinePoolsModule {}
