import { Logger } from '@nestjs/common';
import type { Channel, Options } from 'amqplib';
import { brokerQueueName, MAX_TASK_PRIORITY, PublishPriority, QueueSpec } from '../broker.js';

/** The queue group of a func nobody has registered. */
export const DEFAULT_QUEUE_GROUP = 'default';

/** AMQP 0-9-1 caps queue and exchange names at 255 bytes. */
const MAX_NAME_BYTES = 255;
/** RabbitMQ's reply to declaring an existing queue with other arguments. */
const PRECONDITION_FAILED = 406;

/**
 * x-max-priority of the classic queues: two levels per task priority (see messagePriority). RabbitMQ
 * keeps a sub-queue per level; 20 of them cost a few list steps per message, nothing measurable.
 */
export const CLASSIC_MAX_PRIORITY = 2 * MAX_TASK_PRIORITY + 1;

export interface TopologyOptions {
  prefix: string;
  queueType: 'classic' | 'quorum';
  deliveryLimit: number;
}

/**
 * Every name and queue argument of the AMQP transport. Queues are declared lazily: a spec is
 * declared the first time it is published to or consumed, and from then on by every channel setup,
 * so a reconnect (or a queue deleted behind our back) re-creates it.
 */
export class AmqpTopology {
  private readonly groups = new Map<string, string>();
  private readonly declared = new Map<string, QueueSpec>();
  private readonly refused = new Set<string>();

  constructor(private readonly options: TopologyOptions) {}

  get quorum(): boolean {
    return this.options.queueType === 'quorum';
  }

  /** Quorum queues refuse consumers on a channel with a global prefetch; classic queues share it. */
  get globalPrefetch(): boolean {
    return !this.quorum;
  }

  /** Exchange and queue where quorum queues dead-letter a message past its delivery limit. */
  get deadLetterName(): string {
    return `${this.options.prefix}.dead`;
  }

  queueName(spec: QueueSpec): string {
    const name = brokerQueueName(this.options.prefix, spec);
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new RangeError(`AMQP queue name ${name} is longer than ${MAX_NAME_BYTES} bytes`);
    return name;
  }

  /** Remembers which queue group each func belongs to; the last registration wins. */
  learnGroups(specs: readonly QueueSpec[]): void {
    for (const spec of specs) {
      this.queueName(spec);
      this.groups.set(spec.func, spec.queue);
    }
  }

  hasGroup(func: string): boolean {
    return this.groups.has(func);
  }

  specFor(func: string): QueueSpec {
    return { func, queue: this.groups.get(func) ?? DEFAULT_QUEUE_GROUP };
  }

  /** Marks specs as declared from now on and returns those that were not. */
  markDeclared(specs: readonly QueueSpec[]): QueueSpec[] {
    const fresh: QueueSpec[] = [];
    for (const spec of specs) {
      const name = this.queueName(spec);
      if (this.declared.has(name) || this.refused.has(name)) continue;
      this.declared.set(name, spec);
      fresh.push(spec);
    }
    return fresh;
  }

  declaredSpecs(): QueueSpec[] {
    return [...this.declared.values()];
  }

  declaredSpec(queueName: string): QueueSpec | undefined {
    return this.declared.get(queueName);
  }

  /** Queues RabbitMQ refused to declare because they exist with other arguments. */
  mismatches(): string[] {
    return [...this.refused];
  }

  /**
   * Records a refused declaration. A queue that exists with other arguments is used as it is and
   * not declared again until the service restarts: the refusal closes the channel, so declaring it
   * in every setup would break the channel for every queue. Returns whether the error was such a
   * refusal, seen for the first time.
   */
  noteMismatch(queueName: string, err: unknown): boolean {
    const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
    if (code !== PRECONDITION_FAILED || this.refused.has(queueName)) return false;
    this.refused.add(queueName);
    this.declared.delete(queueName);
    return true;
  }

  /**
   * The message priority of a task of `taskPriority` (0-9) published by `source`. Classic queues:
   * two levels per task priority, the upper one for next tasks, so the task's priority orders the
   * queue as it orders the PostgreSQL transport's (a next task of priority 0 never passes a task of
   * priority 1), and among equals next tasks come first. Quorum queues have two levels at most
   * (RabbitMQ 4 serves priorities 5-9 before 0-4, two to one; 3.x ignores them): the task's own
   * priority, without the boost. Throws on a priority outside 0-9.
   */
  messagePriority(taskPriority: number, source: PublishPriority): number {
    if (!Number.isInteger(taskPriority) || taskPriority < 0 || taskPriority > MAX_TASK_PRIORITY) {
      throw new RangeError(`task priority must be a whole number 0-${MAX_TASK_PRIORITY}, got ${String(taskPriority)}`);
    }
    if (this.quorum) return taskPriority;
    return 2 * taskPriority + (source === PublishPriority.Next ? 1 : 0);
  }

  queueOptions(): Options.AssertQueue {
    if (!this.quorum) return { durable: true, arguments: { 'x-max-priority': CLASSIC_MAX_PRIORITY } };
    // RabbitMQ 3.x quorum queues refuse x-max-priority; 4.x ones have two priorities without it.
    return {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-delivery-limit': this.options.deliveryLimit,
        'x-dead-letter-exchange': this.deadLetterName,
      },
    };
  }

  deadLetterQueueOptions(): Options.AssertQueue {
    return { durable: true, arguments: { 'x-queue-type': 'quorum' } };
  }

  /**
   * Declares the dead-letter route (quorum only) and the given task queues on one channel, one
   * at a time so that a refusal (which closes the channel) names its queue.
   */
  async declare(channel: Channel, specs: readonly QueueSpec[], onRefused: (queue: string, err: unknown) => void): Promise<void> {
    if (this.quorum) {
      await channel.assertExchange(this.deadLetterName, 'fanout', { durable: true });
      await channel.assertQueue(this.deadLetterName, this.deadLetterQueueOptions());
      await channel.bindQueue(this.deadLetterName, this.deadLetterName, '');
    }
    const options = this.queueOptions();
    for (const spec of specs) {
      const name = this.queueName(spec);
      if (this.refused.has(name)) continue;
      try {
        await channel.assertQueue(name, options);
      } catch (err) {
        if (this.noteMismatch(name, err)) onRefused(name, err);
        throw err;
      }
    }
  }
}

/**
 * Declares queues through one channel (the publish channel's wrapper): each spec the first time the
 * process needs it, concurrent declarations of one queue sharing one, a refused one reported once.
 */
export class QueueDeclarations {
  private readonly logger = new Logger(QueueDeclarations.name);
  /** Queue declarations in progress: concurrent publishes to a new queue share one. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    readonly topology: AmqpTopology,
    private readonly assertQueue: (name: string, options: Options.AssertQueue) => Promise<unknown>,
    private readonly describe: (err: unknown) => string,
  ) {}

  /**
   * Declares the specs this process has not declared yet. Without a channel the wrapper answers at
   * once and the next setup declares them (they are known by then).
   */
  async ensure(specs: readonly QueueSpec[]): Promise<void> {
    for (const spec of this.topology.markDeclared(specs)) void this.redeclare(spec);
    await Promise.all(specs.map((spec) => this.running.get(this.topology.queueName(spec))));
  }

  /** Declares every known queue on a fresh channel (a channel setup). */
  declareKnown(channel: Channel): Promise<void> {
    return this.declareOn(channel, this.topology.declaredSpecs());
  }

  declareOn(channel: Channel, specs: readonly QueueSpec[]): Promise<void> {
    return this.topology.declare(channel, specs, (queue, err) => this.reportRefused(queue, err));
  }

  /** A mandatory publish to a queue deleted behind our back came back: declares the queue again. */
  returned(queue: string): void {
    const spec = this.topology.declaredSpec(queue);
    if (!spec || this.running.has(queue)) return;
    this.logger.warn(`RabbitMQ returned a message for ${queue}, which no longer exists; declaring it again`);
    this.redeclare(spec).catch((err) => this.logger.warn(`declaring ${queue} again failed: ${this.describe(err)}`));
  }

  private redeclare(spec: QueueSpec): Promise<void> {
    const name = this.topology.queueName(spec);
    const running = this.running.get(name);
    if (running) return running;
    const done = this.assertQueue(name, this.topology.queueOptions())
      .then(
        () => undefined,
        (err: unknown) => {
          if (this.topology.noteMismatch(name, err)) this.reportRefused(name, err);
          throw err;
        },
      )
      .finally(() => this.running.delete(name));
    this.running.set(name, done);
    return done;
  }

  private reportRefused(queue: string, err: unknown): void {
    this.logger.error(`${queue} exists with other arguments (${this.describe(err)}); using it as it is`);
  }
}
