import type { BatchHandler, ConsumeOptions, Consumer, PublishRef, PullDelivery } from './broker.js';
import { PostgresBroker } from './postgres.broker.js';

/**
 * The PostgreSQL transport without a loop of its own, for work moved by its caller (LaterzTesting's
 * runUntilIdle, inline mode): the queued rows are the queue, as on the PostgreSQL transport, but
 * the worker's consumer takes them only when the caller pulls. Publishing wakes nobody (there is
 * no one waiting), and no LISTEN connection is opened.
 */
export class DrivenBroker extends PostgresBroker {
  private consumer?: { funcs: string[]; batchSize: number; onBatch: BatchHandler<PullDelivery> };

  override async publish(refs: readonly PublishRef[]): Promise<number> {
    return refs.length;
  }

  /** Keeps the worker's batch handler for pull(); starts nothing. */
  override async consume(options: ConsumeOptions, onBatch: BatchHandler<PullDelivery>): Promise<Consumer> {
    const consumer = { funcs: options.queues.map((q) => q.func), batchSize: options.batchSize, onBatch };
    this.consumer = consumer;
    return {
      stop: async () => {
        if (this.consumer === consumer) this.consumer = undefined;
      },
    };
  }

  /**
   * One pull of the consumer, as its loop on the PostgreSQL transport takes one (of its funcs, a
   * batch at most): resolves, once the claim has committed, with how many queued rows it took
   * (0 when none is queued, or nothing consumes).
   */
  async pull(): Promise<number> {
    const consumer = this.consumer;
    if (!consumer || consumer.funcs.length === 0) return 0;
    return consumer.onBatch({ kind: 'pull', pull: { funcs: consumer.funcs, limit: consumer.batchSize } });
  }
}
