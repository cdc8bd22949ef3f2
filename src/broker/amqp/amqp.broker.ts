import { Logger } from '@nestjs/common';
import { connect, type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import { encodeTaskMessage, invalidTaskMessage, parseTaskMessage, previewBody } from './message.js';
import { AmqpTopology } from './topology.js';
import {
  BatchHandler,
  Broker,
  BrokerHealthState,
  ConsumeOptions,
  Consumer,
  PublishPriority,
  PublishRef,
  QueueDepth,
  QueueSpec,
  RefsDelivery,
  TaskRef,
} from '../broker.js';

export interface AmqpBrokerOptions {
  url?: string;
  prefix: string;
  queueType: 'classic' | 'quorum';
  heartbeatSeconds: number;
  publishTimeoutMs: number;
  deliveryLimit: number;
}

/** amqp-connection-manager retries at a fixed pace; one attempt a second is cheap for a local broker. */
const RECONNECT_SECONDS = 1;
/** Bounds a TCP connect to an unreachable host (the OS default is minutes). */
const CONNECT_TIMEOUT_MS = 10_000;
/** Back-off ceiling for a channel that keeps failing on a healthy connection (a misdeclared queue). */
const MAX_FORCED_RECONNECT_DELAY_MS = 30_000;
/** Forced reconnects further apart than this start the back-off again. */
const FORCED_RECONNECT_MEMORY_MS = 60_000;
/**
 * Pause before handing back the deliveries of a failed batch: requeued messages come straight back,
 * and while the claim keeps failing (database down) that would spin.
 */
const REQUEUE_PAUSE_MS = 1000;

/**
 * RabbitMQ transport through amqp-connection-manager: one confirm channel publishes, one channel
 * per consume() call consumes. Both declare their queues in the channel setup, so every reconnect
 * re-declares them.
 */
export class AmqpBroker extends Broker {
  readonly transport = 'amqp' as const;
  private readonly logger = new Logger(AmqpBroker.name);
  private readonly url: string;
  private readonly safeUrl: string;
  private readonly topology: AmqpTopology;
  private readonly manager: AmqpConnectionManager;
  private readonly publisher: ChannelWrapper;
  /** The wrapper's current confirm channel, set up (queues declared); publishes go straight to it. */
  private publishChannel?: ConfirmChannel;
  private readonly consumers = new Set<AmqpConsumer>();
  /** Queue declarations in progress: concurrent publishes to a new queue share one. */
  private readonly declaring = new Map<string, Promise<void>>();
  /** Message ids RabbitMQ returned as unroutable; their publishes do not count. */
  private readonly returned = new Set<string>();
  private readonly warnedDefaultGroup = new Set<string>();
  private publishSeq = 0;
  private connected = false;
  private everConnected = false;
  private outageLogged = false;
  private downSince = Date.now();
  private downReason = 'not connected yet';
  private blockedReason?: string;
  private setupError?: string;
  private forcedReason?: string;
  private forcedReconnects = 0;
  private lastForcedAt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: AmqpBrokerOptions) {
    super();
    if (!options.url) throw new Error('AmqpBroker needs an AMQP URL');
    this.url = options.url;
    this.safeUrl = redactUrl(options.url);
    this.topology = new AmqpTopology(options);
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
    this.manager.on('connect', () => this.onConnect());
    this.manager.on('disconnect', ({ err }) => this.onDisconnect(err));
    this.manager.on('connectFailed', ({ err }) => this.onConnectFailed(err));
    this.manager.on('blocked', ({ reason }) => {
      this.blockedReason = reason;
      this.logger.warn(`RabbitMQ blocked the connection (${reason}); publishes wait until it unblocks`);
    });
    this.manager.on('unblocked', () => {
      this.blockedReason = undefined;
      this.logger.log('RabbitMQ unblocked the connection');
    });
    this.publisher = this.manager.createChannel({
      name: 'laterz-publish',
      confirm: true,
      publishTimeout: options.publishTimeoutMs,
      setup: (channel: ConfirmChannel) => this.setupPublisher(channel),
    });
    this.publisher.on('error', (err) => this.logger.warn(`publish channel: ${this.describe(err)}`));
    // Resolves on the first connection; the manager keeps retrying in the background either way.
    this.manager.connect().catch(() => undefined);
  }

  override registerQueues(specs: QueueSpec[]): void {
    this.topology.learnGroups(specs);
  }

  async publish(refs: readonly PublishRef[], source: PublishPriority = PublishPriority.Enqueue): Promise<number> {
    if (refs.length === 0 || this.closed) return 0;
    if (this.downTooLong()) return 0;
    const deadline = Date.now() + this.options.publishTimeoutMs;
    try {
      const routed = this.route(refs, source);
      if (routed.length === 0) return 0;
      await withDeadline(this.ensureDeclared(routed.map((r) => r.spec)), this.options.publishTimeoutMs, 'declaring queues');
      const channel = this.publishChannel ?? (await withDeadline(this.nextPublishChannel(), remainingMs(deadline), 'waiting for the publish channel'));
      const confirmed = await this.sendConfirmed(channel, routed, deadline);
      if (confirmed < refs.length && this.connected) {
        this.logger.warn(`published ${confirmed} of ${refs.length} refs; the dispatcher re-queues the rest`);
      }
      return confirmed;
    } catch (err) {
      this.logger.warn(`publishing ${refs.length} refs failed (${this.describe(err)}); the dispatcher re-queues them`);
      return 0;
    }
  }

  /** Hands over the refs RabbitMQ delivers: a handler of refs alone will do. */
  async consume(options: ConsumeOptions, onBatch: BatchHandler<RefsDelivery>): Promise<Consumer> {
    if (this.closed) throw new Error('AmqpBroker is closed');
    this.topology.learnGroups(options.queues);
    try {
      await withDeadline(this.ensureDeclared(options.queues), this.options.publishTimeoutMs, 'declaring queues');
    } catch (err) {
      // The consumer's own channel setup declares them again.
      this.logger.warn(`declaring queues to consume failed for now: ${this.describe(err)}`);
    }
    const consumer = new AmqpConsumer(options, onBatch, {
      manager: this.manager,
      topology: this.topology,
      logger: this.logger,
      declare: (channel, specs) => this.declareOn(channel, specs),
      watchChannel: (channel, role, intended) => this.watchChannel(channel, role, intended),
      describe: (err) => this.describe(err),
      stopped: (c) => this.consumers.delete(c),
    });
    this.consumers.add(consumer);
    await consumer.start();
    return consumer;
  }

  /** `unacked` counts the deliveries this process holds: AMQP 0-9-1 reports only ready messages. */
  async depth(spec: QueueSpec): Promise<QueueDepth> {
    const name = this.topology.queueName(spec);
    try {
      if (this.downTooLong()) throw new Error(this.downReason);
      const check = async () => {
        await this.publisher.waitForConnect();
        await this.ensureDeclared([spec]);
        return this.publisher.checkQueue(name);
      };
      const reply = await withDeadline(check(), this.options.publishTimeoutMs, `checking ${name}`);
      let unacked = 0;
      for (const consumer of this.consumers) unacked += consumer.unacked(name);
      return { name, ready: reply.messageCount, unacked };
    } catch (err) {
      throw new Error(`depth of ${name}: ${this.describe(err)}`, { cause: err });
    }
  }

  async health(): Promise<BrokerHealthState> {
    if (this.closed) return { up: false, transport: 'amqp', detail: 'closed' };
    if (!this.connected) {
      const since = new Date(this.downSince).toISOString();
      return { up: false, transport: 'amqp', detail: `not connected to ${this.safeUrl} since ${since}: ${this.downReason}` };
    }
    if (this.blockedReason) return { up: false, transport: 'amqp', detail: `connection blocked by RabbitMQ: ${this.blockedReason}` };
    if (this.setupError) return { up: false, transport: 'amqp', detail: `publish channel: ${this.setupError}` };
    const mismatches = this.topology.mismatches();
    // Such a queue still carries messages (without priorities, say): visible, but no reason to leave rotation.
    if (mismatches.length > 0) return { up: true, transport: 'amqp', detail: `declared elsewhere with other arguments: ${mismatches.join(', ')}` };
    return { up: true, transport: 'amqp' };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await Promise.allSettled([...this.consumers].map((c) => c.stop()));
    await this.publisher.close().catch(() => undefined);
    await this.manager.close().catch((err) => this.logger.warn(`closing the RabbitMQ connection failed: ${this.describe(err)}`));
  }

  /**
   * Through an outage every caller would wait the whole timeout to learn what the first one did;
   * unpublished tasks stay queued in the database for the dispatcher.
   */
  private downTooLong(): boolean {
    return !this.connected && Date.now() - this.downSince >= this.options.publishTimeoutMs;
  }

  /**
   * Publishes on the confirm channel itself rather than through the wrapper's buffer, which holds a
   * timer and a promise per message and finds each confirm by a linear search: 2.5-3.7x the CPU of
   * plain amqplib for 10,000 refs, on a machine RabbitMQ and the database share. One deadline
   * bounds the whole call; refs unconfirmed by then (channel lost, connection blocked) count as
   * not published and stay `queued` for the dispatcher.
   */
  private sendConfirmed(channel: ConfirmChannel, routed: readonly Routed[], deadline: number): Promise<number> {
    return new Promise<number>((resolve) => {
      let sent = 0;
      let settled = 0;
      let confirmed = 0;
      let allSent = false;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(confirmed);
      };
      const timer = setTimeout(finish, remainingMs(deadline));
      const settledAll = () => allSent && settled === sent;
      const send = (from: number) => {
        for (let i = from; i < routed.length && !done; i++) {
          const { queue, ref, priority } = routed[i];
          const messageId = (this.publishSeq++).toString(36);
          const options = { persistent: true, mandatory: true, priority, contentType: 'application/json', messageId };
          let room: boolean;
          try {
            room = channel.sendToQueue(queue, encodeTaskMessage(ref), options, (err: unknown) => {
              settled++;
              // A mandatory publish RabbitMQ could not route comes back (`return`) before its confirm.
              if (!err && !this.returned.delete(messageId)) confirmed++;
              if (settledAll()) finish();
            });
          } catch {
            // The channel closed under the loop: the rest are not published.
            break;
          }
          sent++;
          if (!room && i + 1 < routed.length) {
            channel.once('drain', () => send(i + 1));
            return;
          }
        }
        allSent = true;
        if (settledAll()) finish();
      };
      send(0);
    });
  }

  /** The publish channel once the wrapper has (re)opened and set it up. */
  private async nextPublishChannel(): Promise<ConfirmChannel> {
    for (;;) {
      await this.publisher.waitForConnect();
      if (this.publishChannel) return this.publishChannel;
      await new Promise<void>((resolve) => this.publisher.once('connect', () => resolve()));
    }
  }

  private route(refs: readonly PublishRef[], source: PublishPriority): Routed[] {
    const routed: Routed[] = [];
    for (const ref of refs) {
      try {
        const invalid = invalidTaskMessage(ref);
        if (invalid) throw new Error(invalid);
        const priority = this.topology.messagePriority(ref.priority, source);
        if (!this.topology.hasGroup(ref.func) && !this.warnedDefaultGroup.has(ref.func)) {
          this.warnedDefaultGroup.add(ref.func);
          this.logger.warn(`func ${ref.func} has no registered queue group; publishing it to the default group`);
        }
        const spec = this.topology.specFor(ref.func);
        routed.push({ spec, queue: this.topology.queueName(spec), ref, priority });
      } catch (err) {
        this.logger.warn(`not publishing task ${ref.collection}/${ref.taskId} (${ref.func}): ${this.describe(err)}`);
      }
    }
    return routed;
  }

  /**
   * Declares the queues this process has not declared yet on the publish channel. Without a
   * channel the wrapper answers at once and the next setup declares them (they are known by then).
   */
  private async ensureDeclared(specs: readonly QueueSpec[]): Promise<void> {
    for (const spec of this.topology.markDeclared(specs)) this.redeclare(spec);
    await Promise.all(specs.map((spec) => this.declaring.get(this.topology.queueName(spec))));
  }

  private redeclare(spec: QueueSpec): Promise<void> {
    const name = this.topology.queueName(spec);
    const running = this.declaring.get(name);
    if (running) return running;
    const done = this.publisher
      .assertQueue(name, this.topology.queueOptions())
      .then(
        () => undefined,
        (err: unknown) => {
          if (this.topology.noteMismatch(name, err)) this.reportRefused(name, err);
          throw err;
        },
      )
      .finally(() => this.declaring.delete(name));
    this.declaring.set(name, done);
    return done;
  }

  private async setupPublisher(channel: ConfirmChannel): Promise<void> {
    this.watchChannel(channel, 'publish', () => this.closed);
    channel.on('return', (message: Message) => this.onReturned(message));
    channel.once('close', () => {
      if (this.publishChannel === channel) this.publishChannel = undefined;
    });
    try {
      await this.declareOn(channel, this.topology.declaredSpecs());
      this.setupError = undefined;
      this.publishChannel = channel;
    } catch (err) {
      this.setupError = this.describe(err);
      throw err;
    }
  }

  private declareOn(channel: Channel, specs: readonly QueueSpec[]): Promise<void> {
    return this.topology.declare(channel, specs, (queue, err) => this.reportRefused(queue, err));
  }

  private reportRefused(queue: string, err: unknown): void {
    this.logger.error(`${queue} exists with other arguments (${this.describe(err)}); using it as it is`);
  }

  /** A mandatory publish to a queue deleted behind our back comes back here before its confirm. */
  private onReturned(message: Message): void {
    const id = message.properties.messageId as string | undefined;
    if (id) this.returned.add(id);
    const queue = message.fields.routingKey;
    const spec = this.topology.declaredSpec(queue);
    if (!spec || this.declaring.has(queue)) return;
    this.logger.warn(`RabbitMQ returned a message for ${queue}, which no longer exists; declaring it again`);
    this.redeclare(spec).catch((err) => this.logger.warn(`declaring ${queue} again failed: ${this.describe(err)}`));
  }

  private watchChannel(channel: Channel, role: string, intended: () => boolean): void {
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
        if (intended() || this.closed || !model || this.manager.connection !== model) return;
        this.forceReconnect(`${role} channel ${cause}`);
      });
    });
  }

  private forceReconnect(reason: string): void {
    if (this.reconnectTimer || this.closed) return;
    if (Date.now() - this.lastForcedAt > FORCED_RECONNECT_MEMORY_MS) this.forcedReconnects = 0;
    const delay = this.forcedReconnects === 0 ? 0 : Math.min(MAX_FORCED_RECONNECT_DELAY_MS, 1000 * 2 ** (this.forcedReconnects - 1));
    this.forcedReconnects++;
    this.lastForcedAt = Date.now();
    if (delay > 0) this.logger.warn(`${reason}; reconnecting in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || !this.manager.isConnected()) return;
      this.forcedReason = reason;
      this.manager.reconnect();
    }, delay);
  }

  private onConnect(): void {
    const outage = this.outageLogged ? ` after ${((Date.now() - this.downSince) / 1000).toFixed(1)} s (${this.downReason})` : '';
    this.logger.log(this.everConnected ? `connection to ${this.safeUrl} recovered${outage}` : `connected to ${this.safeUrl}${outage}`);
    this.connected = true;
    this.everConnected = true;
    this.outageLogged = false;
  }

  private onDisconnect(err: unknown): void {
    if (this.closed) return;
    this.connected = false;
    this.blockedReason = undefined;
    this.downSince = Date.now();
    this.downReason = this.forcedReason ?? this.describe(err);
    this.forcedReason = undefined;
    this.outageLogged = true;
    this.logger.warn(`connection to ${this.safeUrl} lost (${this.downReason}); reconnecting, unpublished tasks wait for the dispatcher`);
  }

  private onConnectFailed(err: unknown): void {
    if (this.closed) return;
    this.downReason = this.describe(err);
    if (this.outageLogged) return;
    this.outageLogged = true;
    this.logger.warn(`cannot connect to ${this.safeUrl} (${this.downReason}); retrying every ${RECONNECT_SECONDS} s`);
  }

  private describe(err: unknown): string {
    // Not `instanceof Error`: errors from another realm (a test VM) fail it.
    const message = typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
    return redactSecrets(message, this.url);
  }
}

interface Routed {
  spec: QueueSpec;
  queue: string;
  ref: TaskRef;
  /** The message's priority (AmqpTopology.messagePriority). */
  priority: number;
}

interface ConsumerHost {
  manager: AmqpConnectionManager;
  topology: AmqpTopology;
  logger: Logger;
  declare(channel: Channel, specs: readonly QueueSpec[]): Promise<void>;
  watchChannel(channel: Channel, role: string, intended: () => boolean): void;
  describe(err: unknown): string;
  stopped(consumer: AmqpConsumer): void;
}

interface Delivery {
  message: ConsumeMessage;
  /** The consumer channel's generation when the message arrived. */
  generation: number;
  queue: string;
  ref?: TaskRef;
}

type Outcome = 'ack' | 'requeue';

/** One channel, one consumer per queue, deliveries handed over in micro-batches. */
class AmqpConsumer implements Consumer {
  private readonly wrapper: ChannelWrapper;
  private channel?: Channel;
  /**
   * Bumped whenever the channel changes. A delivery tag means something only on its own channel:
   * sent on the next one it acks another message or closes the channel with 406 PRECONDITION_FAILED.
   */
  private generation = 0;
  private pending: Delivery[] = [];
  private flushQueued = false;
  private readonly held = new Set<Delivery>();
  /** Batches being handed over, with the channel generation their deliveries came on. */
  private readonly inFlight = new Map<Promise<void>, number>();
  private readonly wakers = new Set<() => void>();
  private stopping?: Promise<void>;

  constructor(
    private readonly options: ConsumeOptions,
    private readonly onBatch: BatchHandler<RefsDelivery>,
    private readonly host: ConsumerHost,
  ) {
    this.wrapper = host.manager.createChannel({ name: 'laterz-consume', confirm: false, setup: (channel: Channel) => this.setup(channel) });
    this.wrapper.on('error', (err) => host.logger.warn(`consume channel: ${host.describe(err)}`));
  }

  async start(): Promise<void> {
    for (const spec of this.options.queues) {
      const queue = this.host.topology.queueName(spec);
      try {
        await this.wrapper.consume(queue, (message) => this.onMessage(spec, queue, message), { noAck: false });
      } catch (err) {
        // The wrapper keeps the consumer and starts it again on the next channel.
        this.host.logger.warn(`consuming ${queue} failed for now: ${this.host.describe(err)}`);
      }
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** Deliveries of one queue this consumer holds and has not settled. */
  unacked(queue: string): number {
    let count = 0;
    for (const delivery of this.held) if (delivery.queue === queue) count++;
    return count;
  }

  private async setup(channel: Channel): Promise<void> {
    this.generation++;
    this.channel = channel;
    this.host.watchChannel(channel, 'consume', () => this.stopping !== undefined);
    channel.once('close', () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.generation++;
      // RabbitMQ redelivers them; handing them over now would only race their redelivery.
      for (const delivery of this.pending) this.held.delete(delivery);
      this.pending = [];
    });
    await this.host.declare(channel, this.options.queues);
    await channel.prefetch(this.options.batchSize, this.host.topology.globalPrefetch);
  }

  private onMessage(spec: QueueSpec, queue: string, message: ConsumeMessage): void {
    const delivery: Delivery = { message, generation: this.generation, queue };
    const parsed = parseTaskMessage(message.content);
    if (!parsed.ok) {
      this.host.logger.warn(`dropping a malformed message from ${queue}: ${parsed.reason}; body ${previewBody(message.content)}`);
      this.settle([delivery], 'ack');
      return;
    }
    if (this.stopping) {
      this.settle([delivery], 'requeue');
      return;
    }
    delivery.ref = { ...parsed.message, func: spec.func };
    this.held.add(delivery);
    this.pending.push(delivery);
    // While a batch is being claimed, deliveries wait and go together as the next one (see flush).
    if (this.claiming() || this.flushQueued) return;
    // Deliveries read from the socket together arrive in one turn of the event loop.
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /**
   * Hands over what has arrived, one batch at a time. Claims run one after another on the
   * worker's session anyway; a batch per socket read made them tiny under load (median 3 of 200
   * deliveries with a 5 ms claim, so one claim transaction per three tasks). Waiting for the
   * claim in flight lets the deliveries of that time go together, like a group commit.
   */
  private flush(): void {
    if (this.claiming()) return;
    const batch = this.pending.splice(0, this.options.batchSize);
    if (batch.length === 0) return;
    if (this.stopping) {
      this.settle(batch, 'requeue');
      return;
    }
    const run = this.handle(batch).finally(() => {
      this.inFlight.delete(run);
      this.flush();
    });
    this.inFlight.set(run, this.generation);
  }

  /**
   * Whether a batch of the current channel is being handed over. One of a closed channel does
   * not hold back the redeliveries of its messages on the next (its acks are dropped anyway).
   */
  private claiming(): boolean {
    for (const generation of this.inFlight.values()) if (generation === this.generation) return true;
    return false;
  }

  private async handle(batch: Delivery[]): Promise<void> {
    let outcome: Outcome = 'ack';
    try {
      await this.onBatch({ kind: 'refs', refs: batch.map((d) => d.ref as TaskRef) });
    } catch (err) {
      outcome = 'requeue';
      this.host.logger.warn(`a batch of ${batch.length} deliveries failed (${this.host.describe(err)}); handing them back`);
      await this.pause(REQUEUE_PAUSE_MS);
    }
    this.settle(batch, outcome);
  }

  private settle(deliveries: readonly Delivery[], outcome: Outcome): void {
    let dropped = 0;
    const live: Delivery[] = [];
    for (const delivery of deliveries) {
      this.held.delete(delivery);
      if (this.channel && delivery.generation === this.generation) live.push(delivery);
      else dropped++;
    }
    const channel = this.channel;
    if (channel && live.length > 0) {
      try {
        const upTo = this.coveredBy(live);
        if (upTo && outcome === 'ack') channel.ack(upTo.message, true);
        else if (upTo) channel.nack(upTo.message, true, true);
        else {
          for (const delivery of live) {
            if (outcome === 'ack') channel.ack(delivery.message);
            else channel.nack(delivery.message, false, true);
          }
        }
      } catch {
        // The channel is closing: its deliveries are as good as returned.
        dropped += live.length;
      }
    }
    if (dropped > 0) this.host.logger.log(`dropped ${dropped} ${outcome}s for deliveries of a closed channel; RabbitMQ redelivers them`);
  }

  /**
   * The delivery whose tag settles all of `live` in one frame (`multiple`), or undefined when that
   * would also settle a delivery held elsewhere. One ack per batch instead of one per message
   * takes that much work off RabbitMQ, which shares the machine with the database.
   */
  private coveredBy(live: readonly Delivery[]): Delivery | undefined {
    let last = live[0];
    for (const delivery of live) if (delivery.message.fields.deliveryTag > last.message.fields.deliveryTag) last = delivery;
    const tag = last.message.fields.deliveryTag;
    for (const other of this.held) {
      if (other.generation === this.generation && other.message.fields.deliveryTag <= tag) return undefined;
    }
    return last;
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private async shutdown(): Promise<void> {
    await this.wrapper.cancelAll().catch((err) => this.host.logger.warn(`cancelling consumers failed: ${this.host.describe(err)}`));
    // Not handed over yet: back to the queue for another worker.
    const pending = this.pending;
    this.pending = [];
    this.settle(pending, 'requeue');
    for (const wake of [...this.wakers]) wake();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.keys()]);
    await this.wrapper.close().catch(() => undefined);
    this.host.stopped(this);
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

function remainingMs(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
