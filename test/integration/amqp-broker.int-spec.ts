import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import amqplib from 'amqplib';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { AmqpBroker, AmqpBrokerOptions } from '../../src/broker/amqp/amqp.broker.js';
import { PublishPriority, PublishRef, QueueSpec, RefsDelivery, TaskRef } from '../../src/broker/broker.js';
import { testAmqpPrefix } from '../helpers/scratch.js';

const AMQP_URL = process.env.AMQP_URL;
if (!AMQP_URL) console.warn('skipping the AmqpBroker integration tests: AMQP_URL is unset');
const suite = AMQP_URL ? describe : describe.skip;

/** `<AMQP_PREFIX>.test-<run>-<id>`: every queue and exchange of this file starts with it; afterAll deletes them. */
const prefix = testAmqpPrefix();
const execFileAsync = promisify(execFile);

function brokerOptions(overrides: Partial<AmqpBrokerOptions> = {}): AmqpBrokerOptions {
  return { url: AMQP_URL, prefix, queueType: 'classic', heartbeatSeconds: 5, publishTimeoutMs: 2000, deliveryLimit: 20, ...overrides };
}

/** Refs to publish: tasks `from`… of `func`, at task priority `priority`. */
function refs(func: string, from: number, count: number, priority = 0): PublishRef[] {
  return Array.from({ length: count }, (_, i) => ({ collection: 'test', taskId: String(from + i), func, priority }));
}

/** The same refs as a consumer receives them: the address only. */
function delivered(func: string, from: number, count: number): TaskRef[] {
  return refs(func, from, count).map(({ collection, taskId, func: f }) => ({ collection, taskId, func: f }));
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

/** A promise the test opens by hand; finally blocks open it too, or closing a broker would wait on it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}

/** RabbitMQ's own view, unacked included (AMQP 0-9-1 only reports ready messages). */
async function queueCounts(name: string): Promise<{ ready: number; unacked: number } | undefined> {
  const rows = JSON.parse(await rabbitmqctl('list_queues', 'name', 'messages_ready', 'messages_unacknowledged', '--formatter', 'json', '-q')) as {
    name: string;
    messages_ready: number;
    messages_unacknowledged: number;
  }[];
  const row = rows.find((r) => r.name === name);
  return row && { ready: row.messages_ready, unacked: row.messages_unacknowledged };
}

async function closeConnections(connectionPrefix: string): Promise<number> {
  // The text format: the JSON one prints pids in a syntax close_connection does not accept.
  const lines = (await rabbitmqctl('list_connections', 'pid', 'client_properties', '-q')).split('\n');
  const ours = lines.filter((line) => line.includes(`{"connection_name","laterz ${connectionPrefix} `)).map((line) => line.split('\t')[0]);
  for (const pid of ours) await rabbitmqctl('close_connection', pid, 'closed by the amqp-broker test');
  return ours.length;
}

/** A short-lived connection of its own: a RabbitMQ restart in one test must not break the others. */
async function withAdmin<T>(work: (connection: amqplib.ChannelModel) => Promise<T>): Promise<T> {
  const connection = await amqplib.connect(AMQP_URL as string);
  try {
    return await work(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

suite('AmqpBroker against RabbitMQ', () => {
  const logs: string[] = [];
  jest.setTimeout(60_000);

  const logsSince = (mark: number, pattern: RegExp) => logs.slice(mark).filter((line) => pattern.test(line));

  beforeAll(() => {
    for (const level of ['log', 'warn', 'error', 'debug', 'verbose'] as const) {
      jest.spyOn(Logger.prototype, level).mockImplementation((message: unknown) => {
        logs.push(`${level} ${String(message)}`);
      });
    }
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    const queues = JSON.parse(await rabbitmqctl('list_queues', 'name', '--formatter', 'json', '-q')) as { name: string }[];
    await withAdmin(async (connection) => {
      const channel = await connection.createChannel();
      for (const { name } of queues) if (name.startsWith(prefix)) await channel.deleteQueue(name);
      await channel.deleteExchange(`${prefix}-quorum.dead`);
    });
    // No password of any URL these tests used may reach a log line.
    expect(logs.filter((line) => line.includes('hunter2'))).toEqual([]);
  });

  it('round-trips refs and acks them once the handler resolves', async () => {
    const broker = new AmqpBroker(brokerOptions());
    const held = gate();
    try {
      const spec: QueueSpec = { func: 'roundtrip', queue: 'alpha' };
      broker.registerQueues([spec]);
      expect(await broker.publish(refs('roundtrip', 1, 3))).toBe(3);
      expect(await broker.depth(spec)).toEqual({ name: `${prefix}.alpha.roundtrip`, ready: 3, unacked: 0 });

      const batches: RefsDelivery[] = [];
      const consumer = await broker.consume({ queues: [spec], batchSize: 10 }, async (batch) => {
        batches.push(batch);
        await held.wait;
        return batch.refs.length;
      });
      await waitFor('3 deliveries', () => batches.flatMap((b) => b.refs).length === 3);
      expect(await broker.depth(spec)).toEqual({ name: `${prefix}.alpha.roundtrip`, ready: 0, unacked: 3 });
      held.open();
      await waitFor('the acks', async () => (await broker.depth(spec)).unacked === 0);
      await consumer.stop();

      const received = batches.flatMap((b) => b.refs);
      expect(received.sort((a, b) => Number(a.taskId) - Number(b.taskId))).toEqual(delivered('roundtrip', 1, 3));
      expect(batches.every((b) => b.kind === 'refs')).toBe(true);
      expect(await queueCounts(`${prefix}.alpha.roundtrip`)).toEqual({ ready: 0, unacked: 0 });
      expect(await broker.health()).toEqual({ up: true, transport: 'amqp' });
    } finally {
      held.open();
      await broker.close();
    }
  });

  it('delivers by task priority first: a dispatcher batch at priority 9 ahead of next tasks at 0, and those ahead of priority 0 batches', async () => {
    const broker = new AmqpBroker(brokerOptions());
    try {
      const spec: QueueSpec = { func: 'task-priority', queue: 'alpha' };
      broker.registerQueues([spec]);
      expect(await broker.publish(refs('task-priority', 1, 4, 0), PublishPriority.Dispatch)).toBe(4);
      expect(await broker.publish(refs('task-priority', 101, 4, 0), PublishPriority.Next)).toBe(4);
      expect(await broker.publish(refs('task-priority', 201, 4, 9), PublishPriority.Dispatch)).toBe(4);
      expect(await broker.publish(refs('task-priority', 301, 4, 3), PublishPriority.Enqueue)).toBe(4);

      const order: string[] = [];
      const consumer = await broker.consume({ queues: [spec], batchSize: 1 }, async ({ refs: batch }) => {
        order.push(...batch.map((r) => r.taskId));
        return batch.length;
      });
      await waitFor('16 deliveries', () => order.length === 16);
      await consumer.stop();
      const group = (from: number) => ['0', '1', '2', '3'].map((i) => String(from + Number(i)));
      expect(order).toEqual([...group(201), ...group(301), ...group(101), ...group(1)]);
    } finally {
      await broker.close();
    }
  });

  it('does not publish a ref whose task priority is outside 0-9, and says why', async () => {
    const broker = new AmqpBroker(brokerOptions());
    try {
      broker.registerQueues([{ func: 'bad-priority', queue: 'alpha' }]);
      const mark = logs.length;
      expect(await broker.publish([...refs('bad-priority', 1, 1, 12), ...refs('bad-priority', 2, 1, 4)])).toBe(1);
      expect(logsSince(mark, /not publishing task test\/1 \(bad-priority\): task priority must be a whole number 0-9, got 12/)).toHaveLength(1);
    } finally {
      await broker.close();
    }
  });

  it('delivers next tasks ahead of dispatcher batches waiting in the same queue', async () => {
    const broker = new AmqpBroker(brokerOptions());
    try {
      const spec: QueueSpec = { func: 'priority', queue: 'alpha' };
      broker.registerQueues([spec]);
      expect(await broker.publish(refs('priority', 1, 5), PublishPriority.Dispatch)).toBe(5);
      expect(await broker.publish(refs('priority', 101, 5), PublishPriority.Next)).toBe(5);

      const order: string[] = [];
      const consumer = await broker.consume({ queues: [spec], batchSize: 20 }, async ({ refs: batch }) => {
        order.push(...batch.map((r) => r.taskId));
        return batch.length;
      });
      await waitFor('10 deliveries', () => order.length === 10);
      await consumer.stop();
      expect(order.slice(0, 5).sort()).toEqual(['101', '102', '103', '104', '105']);
    } finally {
      await broker.close();
    }
  });

  it('drops malformed messages and delivers the good one behind them', async () => {
    const broker = new AmqpBroker(brokerOptions());
    try {
      const spec: QueueSpec = { func: 'malformed', queue: 'alpha' };
      const queue = `${prefix}.alpha.malformed`;
      broker.registerQueues([spec]);
      await broker.depth(spec); // declares the queue
      await withAdmin(async (connection) => {
        const channel = await connection.createConfirmChannel();
        channel.sendToQueue(queue, Buffer.from('not json at all'));
        channel.sendToQueue(queue, Buffer.from(JSON.stringify({ collection: 'test', taskId: 7 })));
        channel.sendToQueue(queue, Buffer.alloc(100_000, '{'));
        await channel.waitForConfirms();
      });
      expect(await broker.publish(refs('malformed', 8, 1))).toBe(1);

      const mark = logs.length;
      const received: TaskRef[] = [];
      const consumer = await broker.consume({ queues: [spec], batchSize: 10 }, async ({ refs: batch }) => {
        received.push(...batch);
        return batch.length;
      });
      await waitFor('the good message', () => received.length === 1);
      await waitFor('an empty queue', async () => {
        const depth = await broker.depth(spec);
        return depth.ready === 0 && depth.unacked === 0;
      });
      await consumer.stop();

      expect(received).toEqual(delivered('malformed', 8, 1));
      expect(await queueCounts(queue)).toEqual({ ready: 0, unacked: 0 });
      const dropped = logsSince(mark, /malformed/);
      expect(dropped).toHaveLength(3);
      expect(dropped.every((line) => line.length < 600)).toBe(true);
    } finally {
      await broker.close();
    }
  });

  it('gives a publish up within its timeout while the connection is refused', async () => {
    const mark = logs.length;
    const url = `amqp://laterz:hunter2-secret@127.0.0.1:${await refusedPort()}`;
    const broker = new AmqpBroker(brokerOptions({ url, publishTimeoutMs: 300 }));
    try {
      let started = Date.now();
      expect(await broker.publish(refs('refused', 1, 3))).toBe(0);
      expect(Date.now() - started).toBeLessThan(1000);
      // Once the outage is older than the timeout, a publish does not wait at all.
      started = Date.now();
      expect(await broker.publish(refs('refused', 4, 3))).toBe(0);
      expect(Date.now() - started).toBeLessThan(50);

      const health = await broker.health();
      expect(health).toEqual({ up: false, transport: 'amqp', detail: expect.stringContaining('ECONNREFUSED') });
      expect(health.detail).toContain('laterz:***@');
      expect(logsSince(mark, /cannot connect/)).toHaveLength(1);
    } finally {
      await broker.close();
    }
  });

  it('drops the acks of a closed channel and takes the redeliveries without a 406', async () => {
    const connectionPrefix = `${prefix}-closed`;
    const broker = new AmqpBroker(brokerOptions({ prefix: connectionPrefix }));
    const held = gate();
    try {
      const spec: QueueSpec = { func: 'held', queue: 'alpha' };
      const queue = `${connectionPrefix}.alpha.held`;
      broker.registerQueues([spec]);
      expect(await broker.publish(refs('held', 1, 5))).toBe(5);

      let connectionClosed = false;
      const firstRound = new Set<string>();
      const secondRound = new Set<string>();
      const consumer = await broker.consume({ queues: [spec], batchSize: 10 }, async ({ refs: batch }) => {
        if (connectionClosed) {
          for (const ref of batch) secondRound.add(ref.taskId);
          return batch.length;
        }
        for (const ref of batch) firstRound.add(ref.taskId);
        await held.wait;
        return batch.length;
      });
      await waitFor('5 held deliveries', () => firstRound.size === 5);

      const mark = logs.length;
      connectionClosed = true;
      expect(await closeConnections(connectionPrefix)).toBe(1);
      await waitFor('the redeliveries', () => secondRound.size === 5);
      held.open();

      // The channel still works: a new ref goes through and every message ends acked.
      expect(await broker.publish(refs('held', 6, 1))).toBe(1);
      await waitFor('the new ref', () => secondRound.has('6'));
      await waitFor('nothing left in RabbitMQ', async () => {
        const counts = await queueCounts(queue);
        return counts?.ready === 0 && counts.unacked === 0;
      });
      await consumer.stop();

      expect(logsSince(mark, /406|PRECONDITION/)).toEqual([]);
      expect(logsSince(mark, /dropped 5 acks/)).toHaveLength(1);
      expect(logsSince(mark, /lost/)).toHaveLength(1);
      expect(logsSince(mark, /recovered/)).toHaveLength(1);
    } finally {
      held.open();
      await broker.close();
    }
  });

  it('re-declares a queue deleted under its consumer and keeps consuming', async () => {
    const deletedPrefix = `${prefix}-deleted`;
    const broker = new AmqpBroker(brokerOptions({ prefix: deletedPrefix }));
    try {
      const spec: QueueSpec = { func: 'deleted', queue: 'alpha' };
      broker.registerQueues([spec]);
      const received = new Set<string>();
      const consumer = await broker.consume({ queues: [spec], batchSize: 10 }, async ({ refs: batch }) => {
        for (const ref of batch) received.add(ref.taskId);
        return batch.length;
      });
      expect(await broker.publish(refs('deleted', 1, 1))).toBe(1);
      await waitFor('the first ref', () => received.has('1'));

      await withAdmin(async (connection) => (await connection.createChannel()).deleteQueue(`${deletedPrefix}.alpha.deleted`));
      let next = 2;
      await waitFor('a ref delivered after the deletion', async () => {
        const id = next++;
        await broker.publish(refs('deleted', id, 1));
        await delay(50);
        return [...received].some((taskId) => Number(taskId) >= 2);
      });
      await consumer.stop();
      expect((await broker.health()).up).toBe(true);
    } finally {
      await broker.close();
    }
  });

  it('uses a queue declared elsewhere with other arguments as it is and keeps serving the others', async () => {
    const mismatchPrefix = `${prefix}-mismatch`;
    const mismatched = `${mismatchPrefix}.alpha.mismatch`;
    await withAdmin(async (connection) => (await connection.createChannel()).assertQueue(mismatched, { durable: true }));
    const broker = new AmqpBroker(brokerOptions({ prefix: mismatchPrefix }));
    try {
      broker.registerQueues([
        { func: 'mismatch', queue: 'alpha' },
        { func: 'fine', queue: 'alpha' },
      ]);
      // The refused declaration closes the publish channel once; publishes go through after.
      let id = 0;
      await waitFor('a publish to the mismatched queue', async () => (await broker.publish(refs('mismatch', ++id, 1))) === 1);
      expect(await broker.publish(refs('fine', 100, 1))).toBe(1);
      expect(await broker.health()).toEqual({ up: true, transport: 'amqp', detail: `declared elsewhere with other arguments: ${mismatched}` });

      const received: string[] = [];
      const consumer = await broker.consume({ queues: [{ func: 'mismatch', queue: 'alpha' }], batchSize: 10 }, async ({ refs: batch }) => {
        received.push(...batch.map((r) => r.taskId));
        return batch.length;
      });
      await waitFor('the mismatched queue consumed', () => received.includes(String(id)));
      await consumer.stop();
      expect(logs.filter((line) => line.includes(`${mismatched} exists with other arguments`))).toHaveLength(1);
    } finally {
      await broker.close();
    }
  });

  it('hands the deliveries that arrive during a claim over together as the next batch', async () => {
    const broker = new AmqpBroker(brokerOptions());
    const held = gate();
    try {
      const spec: QueueSpec = { func: 'grouped', queue: 'alpha' };
      broker.registerQueues([spec]);
      const sizes: number[] = [];
      const consumer = await broker.consume({ queues: [spec], batchSize: 50 }, async ({ refs: batch }) => {
        sizes.push(batch.length);
        if (sizes.length === 1) await held.wait;
        return batch.length;
      });
      expect(await broker.publish(refs('grouped', 1, 1))).toBe(1);
      await waitFor('the first batch', () => sizes.length === 1);
      expect(await broker.publish(refs('grouped', 2, 30))).toBe(30);
      await waitFor('30 more deliveries held', async () => (await broker.depth(spec)).unacked === 31);
      expect(sizes).toEqual([1]);

      const mark = logs.length;
      held.open();
      await waitFor('the second batch', () => sizes.length === 2);
      expect(sizes).toEqual([1, 30]);
      await waitFor('RabbitMQ to have every ack', async () => {
        const counts = await queueCounts(`${prefix}.alpha.grouped`);
        return counts?.ready === 0 && counts.unacked === 0;
      });
      await consumer.stop();
      expect(logsSince(mark, /406|PRECONDITION|closed/)).toEqual([]);
    } finally {
      held.open();
      await broker.close();
    }
  });

  it('publishes a batch larger than the socket buffer in one call, every ref confirmed', async () => {
    const broker = new AmqpBroker(brokerOptions({ publishTimeoutMs: 30_000 }));
    try {
      const spec: QueueSpec = { func: 'large', queue: 'alpha' };
      broker.registerQueues([spec]);
      expect(await broker.publish(refs('large', 1, 20_000))).toBe(20_000);
      expect(await broker.depth(spec)).toEqual({ name: `${prefix}.alpha.large`, ready: 20_000, unacked: 0 });
    } finally {
      await broker.close();
    }
  });

  it('stop waits for the batch being handed over', async () => {
    const broker = new AmqpBroker(brokerOptions());
    const held = gate();
    try {
      const spec: QueueSpec = { func: 'stopping', queue: 'alpha' };
      broker.registerQueues([spec]);
      expect(await broker.publish(refs('stopping', 1, 2))).toBe(2);
      let handed = 0;
      const consumer = await broker.consume({ queues: [spec], batchSize: 10 }, async ({ refs: batch }) => {
        handed += batch.length;
        await held.wait;
        return batch.length;
      });
      await waitFor('2 deliveries', () => handed === 2);

      let stopped = false;
      const stopping = consumer.stop().then(() => (stopped = true));
      await waitFor('the consumer cancelled', async () => (await rabbitmqctl('list_consumers', '-q')).includes(`${prefix}.alpha.stopping`) === false);
      expect(stopped).toBe(false);
      held.open();
      await stopping;
      expect(await queueCounts(`${prefix}.alpha.stopping`)).toEqual({ ready: 0, unacked: 0 });
    } finally {
      held.open();
      await broker.close();
    }
  });

  it('dead-letters a poison message of a quorum queue past its delivery limit', async () => {
    const quorumPrefix = `${prefix}-quorum`;
    const broker = new AmqpBroker(brokerOptions({ prefix: quorumPrefix, queueType: 'quorum', deliveryLimit: 1 }));
    try {
      const spec: QueueSpec = { func: 'poison', queue: 'alpha' };
      broker.registerQueues([spec]);
      expect(await broker.publish(refs('poison', 1, 1))).toBe(1);
      let attempts = 0;
      const consumer = await broker.consume({ queues: [spec], batchSize: 10 }, async () => {
        attempts++;
        throw new Error('poison');
      });
      await waitFor('the dead-lettered message', async () => (await queueCounts(`${quorumPrefix}.dead`))?.ready === 1, 30_000);
      await consumer.stop();
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(await queueCounts(`${quorumPrefix}.alpha.poison`)).toEqual({ ready: 0, unacked: 0 });
    } finally {
      await broker.close();
    }
  });

  it('reconnects by itself when RabbitMQ restarts in the middle of a stream of publishes', async () => {
    const restartPrefix = `${prefix}-restart`;
    const broker = new AmqpBroker(brokerOptions({ prefix: restartPrefix, publishTimeoutMs: 1000 }));
    let restart: Promise<void> | undefined;
    try {
      const spec: QueueSpec = { func: 'stream', queue: 'alpha' };
      broker.registerQueues([spec]);
      const received = new Set<string>();
      const consumer = await broker.consume({ queues: [spec], batchSize: 50 }, async ({ refs: batch }) => {
        for (const ref of batch) received.add(ref.taskId);
        return batch.length;
      });
      const mark = logs.length;
      const confirmed = new Set<string>();
      let restarted = false;
      let wentDown = false;
      let confirmedAfterRestart = 0;
      let unconfirmed = 0;
      const deadline = Date.now() + 120_000;
      for (let id = 1; !(restarted && confirmedAfterRestart >= 300); id++) {
        if (Date.now() > deadline) throw new Error(`the stream did not resume (${confirmed.size} confirmed, ${unconfirmed} not)`);
        if (id === 300) {
          restart = (async () => {
            await rabbitmqctl('stop_app');
            wentDown = !(await broker.health()).up;
            await rabbitmqctl('start_app');
            restarted = true;
          })();
        }
        if ((await broker.publish(refs('stream', id, 1), PublishPriority.Dispatch)) === 1) {
          confirmed.add(String(id));
          if (restarted) confirmedAfterRestart++;
        } else {
          unconfirmed++;
          await delay(5); // a failed publish returns at once; leave the event loop to the restart
        }
      }
      await restart;
      await waitFor('every confirmed ref delivered', () => [...confirmed].every((id) => received.has(id)), 60_000);
      await consumer.stop();

      expect(wentDown).toBe(true);
      expect(unconfirmed).toBeGreaterThan(0);
      expect(await broker.health()).toEqual({ up: true, transport: 'amqp' });
      expect(logsSince(mark, /lost/)).toHaveLength(1);
      expect(logsSince(mark, /recovered/)).toHaveLength(1);
    } finally {
      // Whatever failed above, RabbitMQ must come back for everyone else.
      await restart?.catch(() => undefined);
      if (restart) await rabbitmqctl('start_app');
      await broker.close();
    }
  }, 240_000);
});
