import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchHandler,
  Broker,
  BrokerHealthState,
  ConsumeOptions,
  Consumer,
  PublishRef,
  PullDelivery,
  QueueDepth,
  QueueSpec,
} from './broker.js';
import type { Db } from '../database/db.js';
import type { ListenClient } from '../database/listen-client.js';
import { PostgresQueueGateway } from './postgres-queue.gateway.js';

export interface PostgresBrokerOptions {
  /** The process's LISTEN connection: consumers are woken through it (only consume() subscribes). */
  listen: ListenClient;
  schema: string;
  pollMs: number;
}

/**
 * PostgreSQL as the queue: `queued` rows are the messages. Publishing is a NOTIFY (rows were made
 * `queued` by the caller's own statement); consumers dequeue with FOR UPDATE SKIP LOCKED in the
 * claim's transaction and sleep on LISTEN, with a jittered poll as the fallback.
 */
export class PostgresBroker extends Broker {
  readonly transport = 'postgres' as const;
  private readonly logger = new Logger(PostgresBroker.name);
  private readonly channel: string;
  private listening?: Promise<() => void>;
  private readonly wakers = new Set<() => void>();
  private notified = false;
  private readonly queue: PostgresQueueGateway;

  constructor(
    private readonly db: Db,
    private readonly options: PostgresBrokerOptions,
  ) {
    super();
    this.channel = `${options.schema}_queued`;
    this.queue = new PostgresQueueGateway(db);
  }

  override wakeChannel(): string {
    return this.channel;
  }

  /** The rows are the queue (claimed by priority, then id): publishing only wakes the workers. */
  async publish(refs: readonly PublishRef[]): Promise<number> {
    if (refs.length === 0) return 0;
    try {
      await this.db.notify(this.channel, '');
    } catch (err) {
      // The rows are queued either way: an idle worker finds them at its next poll.
      this.logger.warn(`NOTIFY failed: ${(err as Error).message}`);
    }
    return refs.length;
  }

  async consume(options: ConsumeOptions, onBatch: BatchHandler<PullDelivery>): Promise<Consumer> {
    await this.startListener();
    const funcs = options.queues.map((q) => q.func);
    let running = true;
    const loop = (async () => {
      while (running) {
        const slots = Math.min(options.batchSize, options.capacity ? await options.capacity() : options.batchSize);
        if (!running) break;
        this.notified = false;
        const got = await this.dequeueOnce(slots, funcs, onBatch).catch((err: Error) => {
          this.logger.warn(`dequeue failed: ${err.message}`);
          return -1;
        });
        if (got === 0 && !this.notified && running) await this.waitForWork();
        else if (got < 0 && running) await sleep(this.options.pollMs);
      }
    })();
    return {
      stop: async () => {
        running = false;
        this.wakeAll();
        await loop;
      },
    };
  }

  async depth(queue: QueueSpec): Promise<QueueDepth> {
    return { name: queue.func, ready: await this.queue.queuedCount(queue.func), unacked: 0 };
  }

  async health(): Promise<BrokerHealthState> {
    try {
      await this.queue.ping();
      return { up: true, transport: 'postgres' };
    } catch (err) {
      return { up: false, transport: 'postgres', detail: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    const listening = this.listening;
    this.listening = undefined;
    this.wakeAll();
    const unsubscribe = await listening?.catch(() => undefined);
    unsubscribe?.();
  }

  /** Hands the handler a pull (the claim takes queued rows itself); returns how many it took. */
  private dequeueOnce(limit: number, funcs: string[], onBatch: BatchHandler<PullDelivery>): Promise<number> {
    return onBatch({ kind: 'pull', pull: { funcs, limit } });
  }

  private waitForWork(): Promise<void> {
    // Jitter keeps idle workers from polling in step.
    const ms = this.options.pollMs * (0.75 + Math.random() * 0.5);
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private wakeAll(): void {
    this.notified = true;
    for (const wake of [...this.wakers]) wake();
  }

  /** Wake-ups by NOTIFY; after a lost LISTEN connection is back, one poll catches up on missed ones. */
  private async startListener(): Promise<void> {
    this.listening ??= this.options.listen.subscribe(this.channel, {
      notify: () => this.wakeAll(),
      reconnected: () => this.wakeAll(),
    });
    await this.listening;
  }
}
