/** Task ids are PostgreSQL bigints; they travel as decimal strings so none is ever rounded. */
export type TaskId = string;

/** What travels on a queue: the task's address, nothing else (args and results stay in the row). */
export interface TaskRef {
  collection: string;
  taskId: TaskId;
  /** The func, which names the queue the ref goes to. */
  func: string;
}

/** A ref on its way to a queue, with the task's priority (0-9, higher first; the `priority` column). */
export interface PublishRef extends TaskRef {
  priority: number;
}

/**
 * Who publishes. The task's priority orders a queue first, on both transports; within one task
 * priority, on RabbitMQ's classic queues, tasks queued by workers (the next tasks of a finished
 * one, `Next`) jump ahead of dispatcher batches and enqueues, which share a level.
 */
export enum PublishPriority {
  Dispatch = 0,
  Enqueue = 1,
  Next = 5,
}

/** Task priorities run from 0 to this, higher first. */
export const MAX_TASK_PRIORITY = 9;

/** A queue this process serves: its broker name is derived from the func's queue and name. */
export interface QueueSpec {
  func: string;
  queue: string;
}

/** AMQP: the refs RabbitMQ delivered. */
export interface RefsDelivery {
  kind: 'refs';
  refs: TaskRef[];
}

/**
 * PostgreSQL transport: the queued rows are the delivery. The claim takes up to `limit` of them
 * itself (FOR UPDATE SKIP LOCKED: the row locks are the delivery), of the listed funcs only (the
 * consumer's queues: a worker never takes another app's tasks).
 */
export interface PullDelivery {
  kind: 'pull';
  pull: { funcs: readonly string[]; limit: number };
}

/** What a transport hands a worker: refs to claim, or leave to take queued rows itself. */
export type DeliveryBatch = RefsDelivery | PullDelivery;

/**
 * Called with each micro-batch of deliveries. It resolves, with how many tasks it took, once the
 * claim has committed (the row is the record from then on) and the broker acknowledges the
 * deliveries; it rejects when the claim failed, and the broker hands the deliveries back. A
 * transport that hands over one kind only takes a handler of that kind (`BatchHandler<RefsDelivery>`).
 */
export type BatchHandler<B extends DeliveryBatch = DeliveryBatch> = (batch: B) => Promise<number>;

export interface ConsumeOptions {
  queues: QueueSpec[];
  /** Deliveries per batch and, for AMQP, the channel prefetch. */
  batchSize: number;
  /**
   * How many deliveries the consumer can take now; resolves once it can take at least one. The
   * PostgreSQL transport waits for it before each pull and pulls no more rows than it says.
   */
  capacity?: () => Promise<number>;
}

export interface Consumer {
  /** Stops taking deliveries; resolves when no batch is being handed to the handler. */
  stop(): Promise<void>;
}

export interface QueueDepth {
  /** The broker queue's name. */
  name: string;
  ready: number;
  unacked: number;
}

export interface BrokerHealthState {
  up: boolean;
  transport: 'postgres' | 'amqp';
  detail?: string;
}

/**
 * Carries task ids from the database to workers. The database decides; a broker is a hint:
 * losing every message only slows work down (the dispatcher re-queues what is left).
 */
export abstract class Broker {
  abstract readonly transport: 'postgres' | 'amqp';

  /** Tells the broker which queue group each func belongs to, so publishes route to the right queue. */
  registerQueues(_specs: QueueSpec[]): void {}

  /**
   * The NOTIFY channel that wakes this transport's workers, if it has one (PostgreSQL): sent inside
   * a caller's transaction, it reaches them at the commit, and the queued rows are all they need.
   * Undefined (RabbitMQ): the refs must be published once the transaction has committed.
   */
  wakeChannel(): string | undefined {
    return undefined;
  }

  /**
   * Hands refs to the queues of their funcs. Never throws and never waits unboundedly: it returns
   * how many were handed over; the rest stay `queued` in the database for the dispatcher.
   */
  abstract publish(refs: readonly PublishRef[], source?: PublishPriority): Promise<number>;

  /** Starts handing deliveries for the given queues to `onBatch`, in batches. */
  abstract consume(options: ConsumeOptions, onBatch: BatchHandler): Promise<Consumer>;

  /** The broker's own counts for the queue of one func. */
  abstract depth(queue: QueueSpec): Promise<QueueDepth>;

  abstract health(): Promise<BrokerHealthState>;

  abstract close(): Promise<void>;
}

/** `<prefix>.<queue>.<func>`: one queue per func, grouped by the func's queue name. */
export function brokerQueueName(prefix: string, spec: QueueSpec): string {
  return `${prefix}.${spec.queue}.${spec.func}`;
}
