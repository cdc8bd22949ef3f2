import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import { listen, unlisten } from './sql/listen.sql.js';

/** What a subscriber of a channel is told. */
export interface ListenSubscriber {
  /** A NOTIFY on the channel, with its payload ('' when it had none). */
  notify(payload: string): void;
  /** The connection is back after a loss: what was sent meanwhile was missed, so catch up now. */
  reconnected?(): void;
}

export interface ListenClientOptions {
  url: string;
  /** How the connection names itself in pg_stat_activity. */
  applicationName?: string;
  /** First reconnect delay, doubled after each failed attempt up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** No subscriber yet: no connection either. */
export const IDLE = 'IDLE';
/** Connecting, or re-LISTENing after a connect. */
export const CONNECTING = 'CONNECTING';
export const LISTENING = 'LISTENING';
/** Lost (or never reached); a reconnect is scheduled. */
export const LOST = 'LOST';
export const CLOSED = 'CLOSED';
export type ListenState = typeof IDLE | typeof CONNECTING | typeof LISTENING | typeof LOST | typeof CLOSED;

/**
 * The process's one LISTEN connection, shared by every channel a subscriber asks for (the queue's
 * wake-ups, the cancels). It reconnects with back-off and LISTENs on every channel again, then tells
 * each subscriber, which catches up on what it missed. A loss and its recovery log one line each.
 */
export class ListenClient implements OnApplicationShutdown {
  private readonly logger = new Logger(ListenClient.name);
  private readonly subscribers = new Map<string, Set<ListenSubscriber>>();
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private state: ListenState = IDLE;
  private client?: Client;
  /** Channels LISTENed on the current client. */
  private listened = new Set<string>();
  private connecting?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private delayMs: number;
  private lostAt = 0;
  private failedAttempts = 0;
  private opened = 0;
  private everListened = false;

  constructor(private readonly options: ListenClientOptions) {
    this.minDelayMs = options.minDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.delayMs = this.minDelayMs;
  }

  get mode(): ListenState {
    return this.state;
  }

  /** How many connections this client has opened so far (one, until a loss). */
  get connectionsOpened(): number {
    return this.opened;
  }

  /**
   * Subscribes to `channel`; resolves once it is LISTENed on, or once the first attempt has failed
   * (a reconnect is then scheduled and `reconnected` says when it is back). Returns the unsubscribe.
   */
  async subscribe(channel: string, subscriber: ListenSubscriber): Promise<() => void> {
    if (this.state === CLOSED) throw new Error('LISTEN client closed');
    let set = this.subscribers.get(channel);
    if (!set) this.subscribers.set(channel, (set = new Set()));
    set.add(subscriber);
    if (this.state === IDLE) {
      this.state = CONNECTING;
      this.connecting = this.connect();
    }
    if (this.connecting) await this.connecting;
    const client = this.client;
    if (this.state === LISTENING && client && !this.listened.has(channel)) {
      // A failure here is the connection's loss, which its error handler reports and recovers.
      await this.listen(client, channel).catch(() => undefined);
    }
    return () => this.unsubscribe(channel, subscriber);
  }

  /** Ends the connection and any scheduled reconnect; nothing is left open. */
  async close(): Promise<void> {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    this.subscribers.clear();
    await client?.end().catch(() => undefined);
  }

  /** After the worker has drained (beforeApplicationShutdown): cancels reach its tasks until then. */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private unsubscribe(channel: string, subscriber: ListenSubscriber): void {
    const set = this.subscribers.get(channel);
    if (!set?.delete(subscriber) || set.size > 0) return;
    this.subscribers.delete(channel);
    const client = this.client;
    if (this.state === LISTENING && client && this.listened.delete(channel)) {
      client.query(unlisten(client.escapeIdentifier(channel)).text).catch(() => undefined);
    }
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.options.url, application_name: this.options.applicationName ?? 'laterz-listen' });
    this.opened++;
    client.on('notification', (msg) => this.deliver(msg.channel, msg.payload ?? ''));
    // pg may report one loss twice (error, then end): only the live client's first one counts.
    client.on('error', (err) => this.lost(client, err.message));
    client.on('end', () => this.lost(client, 'connection ended'));
    const recovering = this.lostAt > 0;
    try {
      await client.connect();
      this.listened = new Set();
      // Channels subscribed while connecting are LISTENed on too.
      for (let missing = this.missing(); missing.length > 0; missing = this.missing()) {
        for (const channel of missing) await this.listen(client, channel);
      }
    } catch (err) {
      await client.end().catch(() => undefined);
      this.connecting = undefined;
      this.scheduleReconnect((err as Error).message);
      return;
    }
    this.connecting = undefined;
    if (this.state === CLOSED) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.state = LISTENING;
    this.everListened = true;
    this.delayMs = this.minDelayMs;
    if (!recovering) return;
    const after = Date.now() - this.lostAt;
    this.logger.log(`LISTEN connection back after ${after} ms (${this.failedAttempts + 1} attempts)`);
    this.lostAt = 0;
    this.failedAttempts = 0;
    for (const subscriber of this.allSubscribers()) {
      try {
        subscriber.reconnected?.();
      } catch (err) {
        this.logger.warn(`a LISTEN subscriber failed to catch up: ${(err as Error).message}`);
      }
    }
  }

  private async listen(client: Client, channel: string): Promise<void> {
    this.listened.add(channel);
    await client.query(listen(client.escapeIdentifier(channel)).text);
  }

  private missing(): string[] {
    return [...this.subscribers.keys()].filter((channel) => !this.listened.has(channel));
  }

  private deliver(channel: string, payload: string): void {
    for (const subscriber of [...(this.subscribers.get(channel) ?? [])]) {
      try {
        subscriber.notify(payload);
      } catch (err) {
        this.logger.warn(`a LISTEN subscriber of ${channel} failed: ${(err as Error).message}`);
      }
    }
  }

  private lost(client: Client, reason: string): void {
    if (this.client !== client || this.state !== LISTENING) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.scheduleReconnect(reason);
  }

  /** Logs the first failure of a loss only; later attempts of the same loss fail quietly. */
  private scheduleReconnect(reason: string): void {
    if (this.state === CLOSED) return;
    if (this.lostAt === 0) {
      this.lostAt = Date.now();
      const what = this.everListened ? 'LISTEN connection lost' : 'LISTEN connection failed';
      this.logger.warn(`${what} (${reason}); reconnecting with back-off, subscribers poll meanwhile`);
    } else {
      this.failedAttempts++;
    }
    this.state = LOST;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state !== LOST) return;
      this.state = CONNECTING;
      this.connecting = this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private allSubscribers(): ListenSubscriber[] {
    return [...this.subscribers.values()].flatMap((set) => [...set]);
  }
}
