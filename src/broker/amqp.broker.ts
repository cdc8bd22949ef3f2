import { Broker, BrokerHealthState, Consumer, QueueDepth, TaskRef } from './broker.js';

export interface AmqpBrokerOptions {
  url?: string;
  prefix: string;
  queueType: 'classic' | 'quorum';
  heartbeatSeconds: number;
  publishTimeoutMs: number;
  deliveryLimit: number;
}

/** RabbitMQ transport (being built: see the RabbitMQ transport issue). */
export class AmqpBroker extends Broker {
  readonly transport = 'amqp' as const;
  constructor(private readonly options: AmqpBrokerOptions) {
    super();
  }
  async publish(_refs: readonly TaskRef[]): Promise<number> {
    throw new Error('AMQP transport not built yet');
  }
  async consume(): Promise<Consumer> {
    throw new Error('AMQP transport not built yet');
  }
  async depth(): Promise<QueueDepth> {
    throw new Error('AMQP transport not built yet');
  }
  async health(): Promise<BrokerHealthState> {
    return { up: false, transport: 'amqp', detail: `not built (${this.options.prefix})` };
  }
  async close(): Promise<void> {}
}
