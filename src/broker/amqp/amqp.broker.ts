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
} from '../broker.js';
import { AmqpConnection } from './connection.js';
import { AmqpConsumer } from './consumer.js';
import { withDeadline } from './deadline.js';
import { AmqpPublisher, PublishChannel } from './publisher.js';
import { AmqpTopology } from './topology.js';

export interface AmqpBrokerOptions {
  url?: string;
  prefix: string;
  queueType: 'classic' | 'quorum';
  heartbeatSeconds: number;
  publishTimeoutMs: number;
  deliveryLimit: number;
}

/**
 * RabbitMQ transport through amqp-connection-manager: one confirm channel publishes, one channel
 * per consume() call consumes. Both declare their queues in the channel setup, so every reconnect
 * re-declares them.
 */
export class AmqpBroker extends Broker {
  readonly transport = 'amqp' as const;
  private readonly connection: AmqpConnection;
  private readonly topology: AmqpTopology;
  private readonly channel: PublishChannel;
  private readonly publisher: AmqpPublisher;
  private readonly consumers = new Set<AmqpConsumer>();

  constructor(private readonly options: AmqpBrokerOptions) {
    super();
    if (!options.url) throw new Error('AmqpBroker needs an AMQP URL');
    this.connection = new AmqpConnection({ url: options.url, prefix: options.prefix, heartbeatSeconds: options.heartbeatSeconds });
    this.topology = new AmqpTopology(options);
    this.channel = new PublishChannel(this.connection, this.topology);
    this.publisher = new AmqpPublisher(this.connection, this.channel, this.topology, options.publishTimeoutMs);
    this.connection.start();
  }

  override registerQueues(specs: QueueSpec[]): void {
    this.topology.learnGroups(specs);
  }

  publish(refs: readonly PublishRef[], source: PublishPriority = PublishPriority.Enqueue): Promise<number> {
    return this.publisher.publish(refs, source);
  }

  /** Hands over the refs RabbitMQ delivers: a handler of refs alone will do. */
  async consume(options: ConsumeOptions, onBatch: BatchHandler<RefsDelivery>): Promise<Consumer> {
    if (this.connection.closed) throw new Error('AmqpBroker is closed');
    this.topology.learnGroups(options.queues);
    return AmqpConsumer.start(options, onBatch, {
      connection: this.connection,
      declarations: this.channel.declarations,
      timeoutMs: this.options.publishTimeoutMs,
      registry: this.consumers,
    });
  }

  /** `unacked` counts the deliveries this process holds: AMQP 0-9-1 reports only ready messages. */
  async depth(spec: QueueSpec): Promise<QueueDepth> {
    const name = this.topology.queueName(spec);
    try {
      const down = this.connection.downFor(this.options.publishTimeoutMs);
      if (down !== undefined) throw new Error(down);
      const ready = await withDeadline(this.channel.checkQueue(spec), this.options.publishTimeoutMs, `checking ${name}`);
      let unacked = 0;
      for (const consumer of this.consumers) unacked += consumer.unacked(name);
      return { name, ready, unacked };
    } catch (err) {
      throw new Error(`depth of ${name}: ${this.connection.describe(err)}`, { cause: err });
    }
  }

  async health(): Promise<BrokerHealthState> {
    const problem = this.connection.problem() ?? this.channel.problem();
    if (problem !== undefined) return { up: false, transport: 'amqp', detail: problem };
    const mismatches = this.topology.mismatches();
    // Such a queue still carries messages (without priorities, say): visible, but no reason to leave rotation.
    if (mismatches.length > 0) return { up: true, transport: 'amqp', detail: `declared elsewhere with other arguments: ${mismatches.join(', ')}` };
    return { up: true, transport: 'amqp' };
  }

  close(): Promise<void> {
    return this.connection.close(async () => {
      await Promise.allSettled([...this.consumers].map((c) => c.stop()));
      await this.channel.close();
    });
  }
}
