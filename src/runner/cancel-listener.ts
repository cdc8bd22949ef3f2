import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { Db } from '../database/db.js';
import { ListenClient } from '../database/listen-client.js';
import { cancelChannel, TaskAdminGateway } from '../tasks/task-admin.gateway.js';
import { TaskRunner } from './run/task-runner.js';

/** A NOTIFY that arrives between a claim's commit and the run's start finds nothing: look again after these delays. */
const RECHECK_MS = [100, 1000];

/**
 * Aborts the running attempts of cancelled tasks. The cancel has already made the row `broken`
 * (so this attempt's finish changes nothing); this only stops the handler early, through its
 * AbortSignal. Workers may be other processes than the API, hence a NOTIFY, received on the
 * process's one LISTEN connection. After that connection was lost and is back, the running tasks'
 * rows are read once: a cancel whose NOTIFY was missed meanwhile still stops its handler.
 */
@Injectable()
export class CancelListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CancelListener.name);
  private readonly channel: string;
  private closed = false;
  private unsubscribe?: () => void;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly store: TaskAdminGateway;

  constructor(
    private readonly runner: TaskRunner,
    private readonly listen: ListenClient,
    db: Db,
    config: AppConfig,
  ) {
    this.channel = cancelChannel(config.dbSchema);
    this.store = new TaskAdminGateway(db);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe = await this.listen.subscribe(this.channel, {
      notify: (payload) => {
        if (payload) this.handle(payload);
      },
      reconnected: () => void this.recheck(),
    });
  }

  onApplicationShutdown(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Aborts the ids that run here (a payload is a comma-separated list of task ids). */
  handle(payload: string): void {
    for (const id of payload.split(',')) {
      if (!/^\d{1,19}$/.test(id)) continue;
      if (this.abort(id)) continue;
      for (const delay of RECHECK_MS) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (!this.closed) this.abort(id);
        }, delay);
        timer.unref();
        this.timers.add(timer);
      }
    }
  }

  /** Reads which running tasks were cancelled while the LISTEN connection was down, and aborts them. */
  async recheck(): Promise<void> {
    const ids = this.runner.runningIds();
    if (this.closed || ids.length === 0) return;
    try {
      for (const id of await this.store.cancelledAmong(ids)) if (!this.closed) this.abort(id);
    } catch (err) {
      this.logger.warn(`re-reading cancels after the LISTEN connection came back failed: ${(err as Error).message}`);
    }
  }

  private abort(id: string): boolean {
    if (!this.runner.cancel(id)) return false;
    this.logger.log(`task ${id}: running attempt cancelled`);
    return true;
  }
}
