import { once } from 'node:events';
import amqplib, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { AmqpTopology } from '../../src/broker/amqp/topology.js';
import { PublishPriority } from '../../src/broker/broker.js';
import type { ScratchSettings } from '../../src/config/scratch-names.js';
import { wallMs } from '../lib/clock.js';
import { benchAmqpPrefix } from '../lib/databases.js';
import { reportStarted, tellBench } from '../lib/ipc.js';
import type { WorkerProcess, WorkerSpec } from '../lib/workers.js';
import { peerWorkerSpecs } from './peer-worker.js';
import type { JobKind, JobPayload, QueueSystem, SystemClient } from './system.js';

export interface AmqplibTuning {
  /** Channel prefetch of each worker process: laterz's WORKER_BATCH_SIZE. */
  prefetch: number;
}

export const JOB_KINDS: JobKind[] = ['noop', 'latency'];

/** The queues laterz declares, with the same arguments (classic, x-max-priority). */
function topology(prefix: string): AmqpTopology {
  return new AmqpTopology({ prefix, queueType: 'classic', deliveryLimit: 0 });
}

/** One queue per kind, named like laterz's queues but under a prefix of the run's own database and of the system. */
export function kindQueues(settings: ScratchSettings, url: string, system: string): Record<JobKind, string> {
  const name = (kind: JobKind) => topology(benchAmqpPrefix(settings, url, system)).queueName({ func: kind, queue: 'bench' });
  return { noop: name('noop'), latency: name('latency') };
}

export function connectAmqp(amqpUrl: string): Promise<ChannelModel> {
  // As laterz connects: small messages, no Nagle.
  return amqplib.connect(amqpUrl, { noDelay: true });
}

async function onChannel(amqpUrl: string, work: (channel: Channel) => Promise<unknown>): Promise<void> {
  const connection = await connectAmqp(amqpUrl);
  try {
    const channel = await connection.createChannel();
    await work(channel);
    await channel.close();
  } finally {
    await connection.close();
  }
}

export function declareQueues(amqpUrl: string, queues: Record<JobKind, string>): Promise<void> {
  return onChannel(amqpUrl, async (channel) => {
    for (const queue of Object.values(queues)) await channel.assertQueue(queue, topology('raw').queueOptions());
  });
}

export function deleteQueues(amqpUrl: string, queues: Record<JobKind, string>): Promise<void> {
  return onChannel(amqpUrl, async (channel) => {
    for (const queue of Object.values(queues)) await channel.deleteQueue(queue);
  });
}

/**
 * The raw RabbitMQ baseline: what laterz's AMQP transport costs over amqplib alone on the same
 * broker. Persistent messages with publisher confirms, manual acks, prefetch = laterz's batch
 * size (global on the channel, as laterz sets it on classic queues), the same queue arguments and
 * the same worker-process count; no database. A job is finished when its worker acked it; the
 * workers report their acks to the bench over IPC, which is how the client knows.
 */
export class AmqplibSystem implements QueueSystem<AmqplibClient> {
  readonly name: string = 'raw amqplib';
  /** Part of its queue names. */
  protected readonly label: string = 'raw';

  constructor(
    protected readonly amqpUrl: string,
    protected readonly tuning: AmqplibTuning,
    /** The user's AMQP_PREFIX (queue names) and DB_SCHEMA. */
    protected readonly userSettings: ScratchSettings,
  ) {}

  get settings(): Record<string, unknown> {
    return { ...this.tuning, persistent: true, confirms: true, ack: 'manual, each message', queue: 'classic, x-max-priority' };
  }

  install(url: string): Promise<void> {
    return declareQueues(this.amqpUrl, kindQueues(this.userSettings, url, this.label));
  }

  workers(url: string, count: number): WorkerSpec[] {
    return peerWorkerSpecs(
      this.name,
      { BENCH_PEER: 'amqplib', BENCH_PEER_URL: this.amqpUrl, BENCH_PEER_TUNING: JSON.stringify({ ...this.tuning, queues: kindQueues(this.userSettings, url, this.label) }) },
      count,
    );
  }

  async open(url: string): Promise<AmqplibClient> {
    const connection = await connectAmqp(this.amqpUrl);
    const channel = await connection.createConfirmChannel();
    return new AmqplibClient(connection, channel, kindQueues(this.userSettings, url, this.label));
  }

  observe(client: AmqplibClient, workers: WorkerProcess[]): void {
    for (const worker of workers) worker.onFinished((kind, count) => client.finished(kind, count));
  }

  dispose(url: string): Promise<void> {
    return deleteQueues(this.amqpUrl, kindQueues(this.userSettings, url, this.label));
  }
}

export class AmqplibClient implements SystemClient {
  protected readonly published: Record<JobKind, number> = { noop: 0, latency: 0 };
  private readonly acked: Record<JobKind, number> = { noop: 0, latency: 0 };

  constructor(
    private readonly connection: ChannelModel,
    protected readonly channel: ConfirmChannel,
    private readonly queues: Record<JobKind, string>,
  ) {}

  finished(kind: JobKind, count: number): void {
    this.acked[kind] += count;
  }

  /** Publishes all, as fast as the socket takes them, then waits for every confirm. Not timed: nothing to write first. */
  async seedNoop(n: number): Promise<number> {
    const visible = wallMs();
    for (let i = 1; i <= n; i++) {
      if (!this.send('noop', { i })) await once(this.channel, 'drain');
    }
    await this.channel.waitForConfirms();
    this.published.noop += n;
    return visible;
  }

  /** One message, resolved by its confirm (laterz's enqueue resolves at its commit). */
  async enqueue(kind: JobKind, payload: JobPayload): Promise<void> {
    await this.sendConfirmed(kind, payload);
    this.published[kind]++;
  }

  async busy(): Promise<boolean> {
    return JOB_KINDS.some((k) => this.acked[k] < this.published[k]);
  }

  async count(): Promise<number> {
    return this.published.noop + this.published.latency;
  }

  async succeeded(kind: JobKind): Promise<number> {
    return this.acked[kind];
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
    await this.connection.close();
  }

  /** Publishes `body` as JSON, persistent, at laterz's enqueue priority. */
  protected send(kind: JobKind, body: unknown, confirmed?: (err: unknown) => void): boolean {
    const options = { persistent: true, mandatory: true, priority: PublishPriority.Enqueue, contentType: 'application/json' };
    return this.channel.sendToQueue(this.queues[kind], Buffer.from(JSON.stringify(body)), options, confirmed);
  }

  /** Publishes one message and waits for its confirm. */
  protected sendConfirmed(kind: JobKind, body: unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => this.send(kind, body, (err) => (err ? reject(err) : resolve())));
  }
}

export type KindQueues = AmqplibTuning & { queues: Record<JobKind, string> };

/**
 * One channel consuming every kind's queue, manual acks, `prefetch` global on the channel (as
 * laterz sets it on classic queues). Returns the stop.
 */
export async function consumeKinds(
  amqpUrl: string,
  tuning: KindQueues,
  onMessage: (kind: JobKind, message: ConsumeMessage, channel: Channel) => void,
): Promise<() => Promise<void>> {
  const connection = await connectAmqp(amqpUrl);
  const channel: Channel = await connection.createChannel();
  await channel.prefetch(tuning.prefetch, true);
  const tags: string[] = [];
  for (const kind of JOB_KINDS) {
    const { consumerTag } = await channel.consume(tuning.queues[kind], (message: ConsumeMessage | null) => message && onMessage(kind, message, channel), { noAck: false });
    tags.push(consumerTag);
  }
  return async () => {
    for (const tag of tags) await channel.cancel(tag);
    await channel.close();
    await connection.close();
  };
}

/**
 * In a peer worker process: consumes both queues on one channel, parses each body (laterz does),
 * reports latency jobs' start, acks each message; the acks are counted to the bench once per turn
 * of the event loop. Returns the stop.
 */
export async function startAmqplibWorker(amqpUrl: string, tuning: KindQueues): Promise<() => Promise<void>> {
  const acked: Record<JobKind, number> = { noop: 0, latency: 0 };
  let reportQueued = false;
  const report = () => {
    reportQueued = false;
    for (const kind of JOB_KINDS) {
      if (acked[kind] > 0) tellBench({ type: 'finished', kind, count: acked[kind] });
      acked[kind] = 0;
    }
  };
  return consumeKinds(amqpUrl, tuning, (kind, message, channel) => {
    const job = JSON.parse(message.content.toString('utf8')) as JobPayload;
    if (kind === 'latency') reportStarted(job.t0!);
    channel.ack(message);
    acked[kind]++;
    if (!reportQueued) {
      reportQueued = true;
      setImmediate(report);
    }
  });
}
