import { Injectable } from '@nestjs/common';
import { execFileSync } from 'node:child_process';
import { DispatcherService } from '../../src/maintenance/dispatch/dispatcher.service.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TasksService } from '../../src/tasks/tasks.service.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';
import { waitFor } from '../helpers/databases.js';

const AMQP_URL = process.env.AMQP_URL;
const describeAmqp = AMQP_URL ? describe : describe.skip;
if (!AMQP_URL) console.log('RabbitMQ service tests skipped: AMQP_URL is not set');

const running = new Set<string>();
const runs = new Map<string, number>();
let overlaps = 0;

@Injectable()
class AmqpHandlers {
  @TaskHandler('amqp.leaf')
  leaf(args: { n: number }) {
    return args.n;
  }

  @TaskHandler('amqp.add')
  add(_args: unknown, deps: Record<string, number>) {
    return Object.values(deps).reduce((a, b) => a + b, 0);
  }

  @TaskHandler('amqp.work')
  async work(args: { i: number }) {
    const key = String(args.i);
    if (running.has(key)) overlaps++;
    running.add(key);
    await new Promise((resolve) => setImmediate(resolve));
    running.delete(key);
    runs.set(key, (runs.get(key) ?? 0) + 1);
  }
}

function rabbitmqctl(...args: string[]): void {
  execFileSync('rabbitmqctl', args, { stdio: 'ignore', timeout: 60000 });
}

describeAmqp('the whole service on the RabbitMQ transport', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      handlers: [AmqpHandlers],
      env: {
        AMQP_URL,
        AMQP_PUBLISH_TIMEOUT_MS: '1000',
        DISPATCH_QUEUED_GRACE_SECONDS: '1',
        DISPATCH_MIN_AGE_SECONDS: '0',
        WORKER_CONCURRENCY: '200',
        WORKER_BATCH_SIZE: '100',
      },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  const finalCount = async (func: string) =>
    (await app.db.query(`SELECT count(*)::int AS n FROM task WHERE func = $1 AND status IN ('success', 'broken', 'error')`, [func])).rows[0].n as number;

  it('runs a diamond through RabbitMQ, results passed along the edges', async () => {
    const tasks = app.get(TasksService);
    const a = await tasks.enqueue('amqp.leaf', { n: 1 });
    const b = await tasks.enqueue('amqp.add', { node: 'b' }, { dependsOn: { a } });
    const c = await tasks.enqueue('amqp.add', { node: 'c' }, { dependsOn: { a } });
    const d = await tasks.enqueue('amqp.add', { node: 'd' }, { dependsOn: { b, c } });
    const row = await waitFor(async () => {
      const r = (await app.db.query(`SELECT status::text, result FROM task WHERE id = $1`, [d.id])).rows[0];
      return r.status === 'success' ? r : undefined;
    }, 'the diamond to finish');
    expect(row.result).toBe(2);
  });

  it('survives a RabbitMQ restart in the middle of 5,000 tasks: every task final, none twice at once', async () => {
    const total = 5000;
    await app.get(TasksService).enqueueMany(Array.from({ length: total }, (_, i) => ({ func: 'amqp.work', args: { i } })));
    await waitFor(async () => (await finalCount('amqp.work')) >= 500, 'the first tasks to run', 60000);
    try {
      rabbitmqctl('stop_app');
    } finally {
      rabbitmqctl('start_app');
    }
    // Messages lost with the broker leave rows `queued`: the dispatcher puts them back.
    const dispatcher = app.get(DispatcherService);
    await waitFor(
      async () => {
        await dispatcher.runOnce();
        return (await finalCount('amqp.work')) === total;
      },
      'every task to be final after the restart',
      180000,
    );
    const { rows } = await app.db.query(`SELECT status::text, count(*)::int AS n FROM task WHERE func = 'amqp.work' GROUP BY 1`);
    expect(rows).toEqual([{ status: 'success', n: total }]);
    expect(overlaps).toBe(0);
    expect(runs.size).toBe(total);
  }, 240000);
});
