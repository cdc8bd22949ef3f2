import { Logger } from '@nestjs/common';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchHandler, ConsumeOptions, Consumer, QueueSpec, RefsDelivery, TaskRef } from '../broker.js';
import type { AmqpConnection } from './connection.js';
import { withDeadline } from './deadline.js';
import { parseTaskMessage, previewBody } from './message.js';
import type { QueueDeclarations } from './topology.js';

/**
 * Pause before handing back the deliveries of a failed batch: requeued messages come straight back,
 * and while the claim keeps failing (database down) that would spin.
 */
const REQUEUE_PAUSE_MS = 1000;

/** What a consumer uses of the broker's. */
export interface ConsumerLink {
  connection: AmqpConnection;
  /** The publish channel's: declaring there first lets consume() find the queues at once. */
  declarations: QueueDeclarations;
  timeoutMs: number;
  /** The broker's live consumers: a consumer is in it from its start until it has stopped. */
  registry: Set<AmqpConsumer>;
}

interface Delivery {
  message: ConsumeMessage;
  /** The consume channel's generation when the message arrived. */
  generation: number;
  queue: string;
}

interface TaskDelivery extends Delivery {
  ref: TaskRef;
}

type Outcome = 'ack' | 'requeue';

/**
 * The consume channel and the deliveries it holds. A delivery tag means something only on its own
 * channel: sent on the next one it acks another message or closes the channel with 406
 * PRECONDITION_FAILED. So each channel gets a generation, each delivery carries the one it came on,
 * and an ack or nack for a delivery of a closed channel is dropped (RabbitMQ redelivers it).
 */
class ConsumeChannel {
  private readonly logger = new Logger(AmqpConsumer.name);
  private readonly wrapper: ChannelWrapper;
  private channel?: Channel;
  private current = 0;
  /** Deliveries taken and not settled yet. */
  private readonly held = new Set<Delivery>();

  constructor(
    private readonly link: ConsumerLink,
    options: ConsumeOptions,
    hooks: { closing: () => boolean; lost: () => void },
  ) {
    this.wrapper = link.connection.openChannel({
      role: 'consume',
      confirm: false,
      closing: hooks.closing,
      setup: async (channel: Channel) => {
        this.current++;
        this.channel = channel;
        channel.once('close', () => {
          if (this.channel !== channel) return;
          this.channel = undefined;
          this.current++;
          hooks.lost();
        });
        await link.declarations.declareOn(channel, options.queues);
        await channel.prefetch(options.batchSize, link.declarations.topology.globalPrefetch);
      },
    });
  }

  get generation(): number {
    return this.current;
  }

  /** Consumes the spec's queue; well-formed deliveries go to `accept`, malformed ones are acked and logged. */
  async consume(spec: QueueSpec, accept: (delivery: TaskDelivery) => void): Promise<void> {
    const queue = this.link.declarations.topology.queueName(spec);
    const receive = (message: ConsumeMessage) => {
      const delivery: Delivery = { message, generation: this.current, queue };
      const parsed = parseTaskMessage(message.content);
      if (!parsed.ok) {
        this.logger.warn(`dropping a malformed message from ${queue}: ${parsed.reason}; body ${previewBody(message.content)}`);
        this.settle([delivery], 'ack');
        return;
      }
      accept({ ...delivery, ref: { ...parsed.message, func: spec.func } });
    };
    try {
      await this.wrapper.consume(queue, receive, { noAck: false });
    } catch (err) {
      // The wrapper keeps the consumer and starts it again on the next channel.
      this.logger.warn(`consuming ${queue} failed for now: ${this.link.connection.describe(err)}`);
    }
  }

  hold(delivery: Delivery): void {
    this.held.add(delivery);
  }

  /** Deliveries RabbitMQ redelivers anyway (their channel closed): no longer held. */
  forget(deliveries: readonly Delivery[]): void {
    for (const delivery of deliveries) this.held.delete(delivery);
  }

  /** Deliveries of one queue held and not settled. */
  unacked(queue: string): number {
    let count = 0;
    for (const delivery of this.held) if (delivery.queue === queue) count++;
    return count;
  }

  settle(deliveries: readonly Delivery[], outcome: Outcome): void {
    let dropped = 0;
    const live: Delivery[] = [];
    for (const delivery of deliveries) {
      this.held.delete(delivery);
      if (this.channel && delivery.generation === this.current) live.push(delivery);
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
    if (dropped > 0) this.logger.log(`dropped ${dropped} ${outcome}s for deliveries of a closed channel; RabbitMQ redelivers them`);
  }

  async cancel(): Promise<void> {
    await this.wrapper.cancelAll().catch((err) => this.logger.warn(`cancelling consumers failed: ${this.link.connection.describe(err)}`));
  }

  close(): Promise<void> {
    return this.wrapper.close().catch(() => undefined);
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
      if (other.generation === this.current && other.message.fields.deliveryTag <= tag) return undefined;
    }
    return last;
  }
}

/**
 * Hands deliveries over one batch at a time. Claims run one after another on the worker's session
 * anyway; a batch per socket read made them tiny under load (median 3 of 200 deliveries with a 5 ms
 * claim, so one claim transaction per three tasks). Waiting for the claim in flight lets the
 * deliveries of that time go together, like a group commit.
 */
class DeliveryBatches {
  private pending: TaskDelivery[] = [];
  /** Batches being handed over, with the channel generation their deliveries came on. */
  private readonly inFlight = new Map<Promise<void>, number>();
  private flushing?: NodeJS.Immediate;

  constructor(
    private readonly batchSize: number,
    private readonly channel: ConsumeChannel,
    private readonly handOver: (batch: TaskDelivery[]) => Promise<void>,
  ) {}

  add(delivery: TaskDelivery): void {
    this.pending.push(delivery);
    // While a batch is being claimed, deliveries wait and go together as the next one (see flush).
    if (this.claiming() || this.flushing) return;
    // Deliveries read from the socket together arrive in one turn of the event loop.
    this.flushing = setImmediate(() => {
      this.flushing = undefined;
      this.flush();
    });
  }

  /** The deliveries not handed over yet, which this no longer holds. */
  takePending(): TaskDelivery[] {
    const pending = this.pending;
    this.pending = [];
    return pending;
  }

  /** Resolves once no batch is being handed over. */
  async drained(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.keys()]);
  }

  private flush(): void {
    if (this.claiming()) return;
    const batch = this.pending.splice(0, this.batchSize);
    if (batch.length === 0) return;
    const run = this.handOver(batch).finally(() => {
      this.inFlight.delete(run);
      this.flush();
    });
    this.inFlight.set(run, this.channel.generation);
  }

  /**
   * Whether a batch of the current channel is being handed over. One of a closed channel does
   * not hold back the redeliveries of its messages on the next (its acks are dropped anyway).
   */
  private claiming(): boolean {
    for (const generation of this.inFlight.values()) if (generation === this.channel.generation) return true;
    return false;
  }
}

const CONSUMING = 'CONSUMING';
const STOPPING = 'STOPPING';
/** While consuming, `wake` cuts a requeue pause short when the consumer stops. */
type ConsumerState = { mode: typeof CONSUMING; wake: AbortController } | { mode: typeof STOPPING; done: Promise<void> };

/**
 * One channel, one consumer per queue, deliveries handed over in micro-batches and acked once the
 * handler resolves (the claim has committed), handed back when it rejects.
 */
export class AmqpConsumer implements Consumer {
  private readonly logger = new Logger(AmqpConsumer.name);
  private readonly deliveries: ConsumeChannel;
  private readonly batches: DeliveryBatches;
  private state: ConsumerState = { mode: CONSUMING, wake: new AbortController() };

  private constructor(
    options: ConsumeOptions,
    private readonly onBatch: BatchHandler<RefsDelivery>,
    private readonly link: ConsumerLink,
  ) {
    this.deliveries = new ConsumeChannel(link, options, {
      closing: () => this.state.mode === STOPPING,
      // RabbitMQ redelivers them; handing them over now would only race their redelivery.
      lost: () => this.deliveries.forget(this.batches.takePending()),
    });
    this.batches = new DeliveryBatches(options.batchSize, this.deliveries, (batch) => this.handle(batch));
  }

  /** Declares the queues, then consumes them (the wrapper retries what fails now on its next channel). */
  static async start(options: ConsumeOptions, onBatch: BatchHandler<RefsDelivery>, link: ConsumerLink): Promise<AmqpConsumer> {
    try {
      await withDeadline(link.declarations.ensure(options.queues), link.timeoutMs, 'declaring queues');
    } catch (err) {
      // The consumer's own channel setup declares them again.
      new Logger(AmqpConsumer.name).warn(`declaring queues to consume failed for now: ${link.connection.describe(err)}`);
    }
    const consumer = new AmqpConsumer(options, onBatch, link);
    link.registry.add(consumer);
    for (const spec of options.queues) await consumer.deliveries.consume(spec, (delivery) => consumer.accept(delivery));
    return consumer;
  }

  stop(): Promise<void> {
    if (this.state.mode === CONSUMING) {
      const { wake } = this.state;
      this.state = { mode: STOPPING, done: this.shutdown(wake) };
    }
    return this.state.done;
  }

  /** Deliveries of one queue this consumer holds and has not settled. */
  unacked(queue: string): number {
    return this.deliveries.unacked(queue);
  }

  private accept(delivery: TaskDelivery): void {
    if (this.state.mode === STOPPING) {
      this.deliveries.settle([delivery], 'requeue');
      return;
    }
    this.deliveries.hold(delivery);
    this.batches.add(delivery);
  }

  private async handle(batch: TaskDelivery[]): Promise<void> {
    if (this.state.mode === STOPPING) {
      this.deliveries.settle(batch, 'requeue');
      return;
    }
    const { wake } = this.state;
    let outcome: Outcome = 'ack';
    try {
      await this.onBatch({ kind: 'refs', refs: batch.map((d) => d.ref) });
    } catch (err) {
      outcome = 'requeue';
      this.logger.warn(`a batch of ${batch.length} deliveries failed (${this.link.connection.describe(err)}); handing them back`);
      await sleep(REQUEUE_PAUSE_MS, undefined, { signal: wake.signal }).catch(() => undefined);
    }
    this.deliveries.settle(batch, outcome);
  }

  private async shutdown(wake: AbortController): Promise<void> {
    await this.deliveries.cancel();
    // Not handed over yet: back to the queue for another worker.
    this.deliveries.settle(this.batches.takePending(), 'requeue');
    wake.abort();
    await this.batches.drained();
    await this.deliveries.close();
    this.link.registry.delete(this);
  }
}
