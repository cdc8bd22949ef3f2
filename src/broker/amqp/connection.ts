import assert from 'node:assert/strict';
import { Logger } from '@nestjs/common';
import { connect, type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConfirmChannel } from 'amqplib';

export interface ConnectionOptions {
  url: string;
  prefix: string;
  heartbeatSeconds: number;
}

/** amqp-connection-manager retries at a fixed pace; one attempt a second is cheap for a local broker. */
const RECONNECT_SECONDS = 1;
/** Bounds a TCP connect to an unreachable host (the OS default is minutes). */
const CONNECT_TIMEOUT_MS = 10_000;
/** Back-off ceiling for a channel that keeps failing on a healthy connection (a misdeclared queue). */
const MAX_FORCED_RECONNECT_DELAY_MS = 30_000;
/** Forced reconnects further apart than this start the back-off again. */
const FORCED_RECONNECT_MEMORY_MS = 60_000;

/** Created, the first attempt under way. */
export const STARTING = 'STARTING';
/** Never connected yet; attempts keep failing. */
export const UNREACHABLE = 'UNREACHABLE';
export const CONNECTED = 'CONNECTED';
/** Connected, but RabbitMQ holds our publishes (a resource alarm). */
export const BLOCKED = 'BLOCKED';
/** Was connected, lost it; reconnecting. */
export const LOST = 'LOST';
export const CLOSED = 'CLOSED';

type DownMode = typeof STARTING | typeof UNREACHABLE | typeof LOST;
export type ConnectionMode = DownMode | typeof CONNECTED | typeof BLOCKED | typeof CLOSED;

type ConnectionState =
  | { mode: DownMode; since: number; reason: string }
  | { mode: typeof CONNECTED }
  | { mode: typeof BLOCKED; reason: string }
  | { mode: typeof CLOSED };

/** Where the modes log: a Nest Logger, or a test's recorder. */
export type ModeLog = Pick<Logger, 'log' | 'warn'>;

/**
 * The connection's mode, moved by amqp-connection-manager's events. Each transition asserts the
 * modes it may come from (events after close() are ignored: a connect can race it). A loss and its
 * recovery are logged once each, however many attempts fail in between.
 */
export class ConnectionModes {
  private state: ConnectionState = { mode: STARTING, since: Date.now(), reason: 'not connected yet' };

  /** `where` is the URL as a log line may show it (redactUrl). */
  constructor(
    private readonly where: string,
    private readonly log: ModeLog,
  ) {}

  get mode(): ConnectionMode {
    return this.state.mode;
  }

  /** Connected, blocked or not: publishes go out (a blocked connection holds them until their deadline). */
  get up(): boolean {
    return this.state.mode === CONNECTED || this.state.mode === BLOCKED;
  }

  connected(): void {
    const state = this.state;
    if (state.mode === CLOSED) return;
    assert.ok(isDown(state), `AMQP connection: connected in mode ${state.mode}`);
    const outage = state.mode === STARTING ? '' : ` after ${((Date.now() - state.since) / 1000).toFixed(1)} s (${state.reason})`;
    this.log.log(state.mode === LOST ? `connection to ${this.where} recovered${outage}` : `connected to ${this.where}${outage}`);
    this.state = { mode: CONNECTED };
  }

  disconnected(reason: string): void {
    if (this.state.mode === CLOSED) return;
    assert.ok(this.up, `AMQP connection: disconnected in mode ${this.state.mode}`);
    this.state = { mode: LOST, since: Date.now(), reason };
    this.log.warn(`connection to ${this.where} lost (${reason}); reconnecting, unpublished tasks wait for the dispatcher`);
  }

  connectFailed(reason: string): void {
    const state = this.state;
    if (state.mode === CLOSED) return;
    assert.ok(isDown(state), `AMQP connection: connect failed in mode ${state.mode}`);
    this.state = { mode: state.mode === STARTING ? UNREACHABLE : state.mode, since: state.since, reason };
    if (state.mode === STARTING) this.log.warn(`cannot connect to ${this.where} (${reason}); retrying every ${RECONNECT_SECONDS} s`);
  }

  blocked(reason: string): void {
    if (this.state.mode === CLOSED) return;
    assert.ok(this.up, `AMQP connection: blocked in mode ${this.state.mode}`);
    this.state = { mode: BLOCKED, reason };
    this.log.warn(`RabbitMQ blocked the connection (${reason}); publishes wait until it unblocks`);
  }

  unblocked(): void {
    if (this.state.mode === CLOSED) return;
    assert.ok(this.up, `AMQP connection: unblocked in mode ${this.state.mode}`);
    this.state = { mode: CONNECTED };
    this.log.log('RabbitMQ unblocked the connection');
  }

  /** Returns false when it was closed already. */
  close(): boolean {
    if (this.state.mode === CLOSED) return false;
    this.state = { mode: CLOSED };
    return true;
  }

  /**
   * Why the connection is down, when it has been down for `ms` at least. Through an outage every
   * caller would wait the whole timeout to learn what the first one did.
   */
  downFor(ms: number): string | undefined {
    const state = this.state;
    return isDown(state) && Date.now() - state.since >= ms ? state.reason : undefined;
  }

  /** What keeps the connection from serving, for the health check; undefined when nothing does. */
  problem(): string | undefined {
    const state = this.state;
    if (state.mode === CLOSED) return 'closed';
    if (isDown(state)) return `not connected to ${this.where} since ${new Date(state.since).toISOString()}: ${state.reason}`;
    if (state.mode === BLOCKED) return `connection blocked by RabbitMQ: ${state.reason}`;
    return undefined;
  }
}

function isDown(state: ConnectionState): state is Extract<ConnectionState, { mode: DownMode }> {
  return state.mode === STARTING || state.mode === UNREACHABLE || state.mode === LOST;
}

/** A channel the connection opens: its setup, and whether a close is ours (no reconnect forced then). */
export interface ChannelPlan<C extends Channel> {
  role: 'publish' | 'consume';
  confirm: boolean;
  setup: (channel: C) => Promise<void>;
  closing: () => boolean;
}

/**
 * One amqp-connection-manager connection: reconnects with its fixed pace, and also when a channel
 * closes alone on a live connection (a 406, a deleted queue), which the library does not recover.
 */
export class AmqpConnection {
  private readonly logger = new Logger(AmqpConnection.name);
  private readonly manager: AmqpConnectionManager;
  private readonly modes: ConnectionModes;
  private readonly forced = new ForcedReconnects();

  constructor(private readonly options: ConnectionOptions) {
    this.modes = new ConnectionModes(redactUrl(options.url), this.logger);
    this.manager = connect([options.url], {
      heartbeatIntervalInSeconds: options.heartbeatSeconds,
      reconnectTimeInSeconds: RECONNECT_SECONDS,
      connectionOptions: {
        // Messages are a few dozen bytes: with Nagle's algorithm one waits for the last one's ACK.
        noDelay: true,
        timeout: CONNECT_TIMEOUT_MS,
        clientProperties: { connection_name: `laterz ${options.prefix} pid ${process.pid}` },
      },
    });
    this.manager.on('connect', () => this.modes.connected());
    this.manager.on('disconnect', ({ err }) => this.modes.disconnected(this.forced.takeReason() ?? this.describe(err)));
    this.manager.on('connectFailed', ({ err }) => this.modes.connectFailed(this.describe(err)));
    this.manager.on('blocked', ({ reason }) => this.modes.blocked(String(reason)));
    this.manager.on('unblocked', () => this.modes.unblocked());
  }

  get closed(): boolean {
    return this.modes.mode === CLOSED;
  }

  get up(): boolean {
    return this.modes.up;
  }

  /** Starts connecting; the manager keeps retrying in the background. */
  start(): void {
    this.manager.connect().catch(() => undefined);
  }

  downFor(ms: number): string | undefined {
    return this.modes.downFor(ms);
  }

  problem(): string | undefined {
    return this.modes.problem();
  }

  /** A channel set up again on every reconnect, and watched for closing alone. */
  openChannel(plan: ChannelPlan<ConfirmChannel>): ChannelWrapper;
  openChannel(plan: ChannelPlan<Channel>): ChannelWrapper;
  openChannel(plan: ChannelPlan<ConfirmChannel> | ChannelPlan<Channel>): ChannelWrapper {
    const wrapper = this.manager.createChannel({
      name: `laterz-${plan.role}`,
      confirm: plan.confirm,
      setup: async (channel: ConfirmChannel) => {
        this.watch(channel, plan);
        await plan.setup(channel);
      },
    });
    wrapper.on('error', (err) => this.logger.warn(`${plan.role} channel: ${this.describe(err)}`));
    return wrapper;
  }

  /** Closes the channels (`closeChannels`) and then the connection; health says closed from the start. */
  async close(closeChannels: () => Promise<void>): Promise<void> {
    if (!this.modes.close()) return;
    this.forced.cancel();
    await closeChannels();
    await this.manager.close().catch((err) => this.logger.warn(`closing the RabbitMQ connection failed: ${this.describe(err)}`));
  }

  /** An error's message, with the URL's password masked. */
  describe(err: unknown): string {
    // Not `instanceof Error`: errors from another realm (a test VM) fail it.
    const message = typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
    return redactSecrets(message, this.options.url);
  }

  private watch(channel: Channel, plan: Pick<ChannelPlan<Channel>, 'role' | 'closing'>): void {
    const model = this.manager.connection;
    let cause = 'closed';
    channel.on('error', (err: Error) => {
      cause = `closed: ${this.describe(err)}`;
    });
    channel.once('close', () => {
      // A connection loss closes its channels too, and amqp-connection-manager recovers from that. It
      // does not recover a channel closed alone (a 406, a deleted queue): its wrapper would wait for a
      // reconnect that never comes.
      setImmediate(() => {
        if (plan.closing() || this.closed || !model || this.manager.connection !== model) return;
        this.forceReconnect(`${plan.role} channel ${cause}`);
      });
    });
  }

  private forceReconnect(reason: string): void {
    if (this.closed) return;
    const delay = this.forced.schedule(reason, () => {
      if (this.closed || !this.manager.isConnected()) return false;
      this.manager.reconnect();
      return true;
    });
    if (delay) this.logger.warn(`${reason}; reconnecting in ${delay} ms`);
  }
}

/** Reconnects forced by channels closing alone, with a back-off while they keep closing. */
class ForcedReconnects {
  private count = 0;
  private lastAt = 0;
  private timer?: NodeJS.Timeout;
  /** Why the connection is going down, while a reconnect we forced is under way. */
  private reason?: string;

  /** Schedules `reconnect` (which says whether it reconnected) unless one is scheduled; returns the delay. */
  schedule(reason: string, reconnect: () => boolean): number | undefined {
    if (this.timer) return undefined;
    if (Date.now() - this.lastAt > FORCED_RECONNECT_MEMORY_MS) this.count = 0;
    const delay = this.count === 0 ? 0 : Math.min(MAX_FORCED_RECONNECT_DELAY_MS, 1000 * 2 ** (this.count - 1));
    this.count++;
    this.lastAt = Date.now();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reason = reason;
      if (!reconnect()) this.reason = undefined;
    }, delay);
    return delay;
  }

  /** The reason of the reconnect under way, once: the disconnect it causes reports it. */
  takeReason(): string | undefined {
    const reason = this.reason;
    this.reason = undefined;
    return reason;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The URL as a log line may show it: with its password masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable AMQP URL)';
  }
}

/** Masks the URL's password wherever a lower layer's message repeats it. */
export function redactSecrets(text: string, url: string): string {
  let password: string;
  try {
    password = new URL(url).password;
  } catch {
    return text.split(url).join('(AMQP URL)');
  }
  if (!password) return text;
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // A malformed escape: only the raw form can appear.
  }
  let masked = text;
  for (const secret of new Set([password, decoded])) masked = masked.split(secret).join('***');
  return masked;
}
