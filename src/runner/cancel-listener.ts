import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import { AppConfig } from '../config/app-config.js';
import { DATABASE_URL } from '../database/database.module.js';
import { cancelChannel } from '../tasks/sql/admin.sql.js';
import { TaskRunner } from './run/task-runner.js';

/** A NOTIFY that arrives between a claim's commit and the run's start finds nothing: look again after these delays. */
const RECHECK_MS = [100, 1000];
const RECONNECT_MAX_MS = 10_000;

/**
 * Aborts the running attempts of cancelled tasks. The cancel has already made the row `broken`
 * (so this attempt's finish changes nothing); this only stops the handler early, through its
 * AbortSignal. Workers may be other processes than the API, hence LISTEN on a connection of its own.
 * A notification missed while reconnecting only lets a cancelled handler run to its end.
 */
@Injectable()
export class CancelListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CancelListener.name);
  private readonly channel: string;
  private client?: Client;
  private closed = false;
  private retryDelayMs = 250;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly runner: TaskRunner,
    @Inject(DATABASE_URL) private readonly url: string,
    config: AppConfig,
  ) {
    this.channel = cancelChannel(config.dbSchema);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Aborts the ids that run here (a payload is a comma-separated list of task ids). */
  handle(payload: string): void {
    for (const id of payload.split(',')) {
      if (!/^\d{1,19}$/.test(id)) continue;
      if (this.runner.cancel(id)) {
        this.logger.log(`task ${id}: running attempt cancelled`);
        continue;
      }
      for (const delay of RECHECK_MS) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (!this.closed && this.runner.cancel(id)) this.logger.log(`task ${id}: running attempt cancelled`);
        }, delay);
        timer.unref();
        this.timers.add(timer);
      }
    }
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client({ connectionString: this.url, application_name: 'laterz-cancel-listener' });
    const lost = (why: string) => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      this.scheduleReconnect(why);
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('connection ended'));
    client.on('notification', (msg) => {
      if (msg.channel === this.channel && msg.payload) this.handle(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
      this.client = client;
      this.retryDelayMs = 250;
    } catch (err) {
      await client.end().catch(() => undefined);
      this.scheduleReconnect((err as Error).message);
    }
  }

  private scheduleReconnect(why: string): void {
    if (this.closed) return;
    this.logger.warn(`cancel listener lost (${why}); reconnecting in ${this.retryDelayMs} ms`);
    this.reconnectTimer = setTimeout(() => void this.connect(), this.retryDelayMs);
    this.reconnectTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RECONNECT_MAX_MS);
  }
}
