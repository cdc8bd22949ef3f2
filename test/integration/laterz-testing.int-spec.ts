import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { InjectDataSource, InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Client, Pool } from 'pg';
import { Column, DataSource, Entity, PrimaryGeneratedColumn, Repository } from 'typeorm';
import {
  type BulkTask,
  DATABASE_URL,
  DependencyBroken,
  InvalidLaterzOptions,
  LaterzModule,
  LaterzTesting,
  type LaterzTestingApp,
  type TaskContext,
  TaskBroken,
  TaskError,
  type TaskHandle,
  TaskHandler,
  TasksService,
  TIERS_RETRY,
} from '../../src/index.js';
import { createTestDatabase } from '../helpers/databases.js';
import { userSettings } from '../helpers/scratch.js';

// ---- The README's example ("Test your handlers"), as it is there but for the import path. ----

@Injectable()
class PriceTasks {
  @TaskHandler('price.net')
  net(args: { cart: string; items: number[] }) {
    return args.items.reduce((sum, n) => sum + n, 0);
  }

  @TaskHandler('price.tax')
  tax(_args: { cart: string }, deps: { net: number }) {
    return deps.net / 4;
  }

  @TaskHandler('price.total')
  total(args: { cart: string }, deps: { net: number; tax: number }) {
    return { cart: args.cart, total: deps.net + deps.tax };
  }
}

@Module({ providers: [PriceTasks] })
class PriceModule {}

describe('price tasks', () => {
  it('totals a cart', async () => {
    const laterz = await LaterzTesting.create({ imports: [PriceModule], database: { url: process.env.DATABASE_URL! } });
    try {
      const net = await laterz.tasks.enqueue('price.net', { cart: 'c1', items: [40, 60] });
      const tax = await laterz.tasks.enqueue('price.tax', { cart: 'c1' }, { dependsOn: { net } });
      const total = await laterz.tasks.enqueue('price.total', { cart: 'c1' }, { dependsOn: { net, tax } });

      const report = await laterz.runUntilIdle();

      expect(report.counts).toEqual({ success: 3 });
      expect(await laterz.task(total)).toMatchObject({ status: 'success', result: { cart: 'c1', total: 125 } });
    } finally {
      await laterz.close();
    }
  });
});

// ---- A user's handlers: a DAG passing results, TaskBroken, an Error, a bulk func, a parent made at run time. ----

describe('the README example', () => {
  it('is the code above, word for word', () => {
    const own = readFileSync(new URL(import.meta.url), 'utf8');
    const sample = own.slice(own.indexOf('@Injectable()\nclass PriceTasks'), own.indexOf('// ---- A user')).trim();
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(sample).toMatch(/^@Injectable\(\)\nclass PriceTasks[\s\S]*await laterz\.close\(\);\n {4}\}\n {2}\}\);\n\}\);$/);
    expect(readme).toContain(`import { LaterzTesting, TaskHandler } from 'laterz';\n\n${sample}\n\`\`\``);
  });
});

@Injectable()
class ShopTasks {
  @TaskHandler('shop.net')
  net(args: { cart: string; items: number[] }) {
    return args.items.reduce((sum, n) => sum + n, 0);
  }

  @TaskHandler('shop.tax')
  tax(_args: { cart: string }, deps: { net: number }) {
    return deps.net / 4;
  }

  @TaskHandler('shop.total')
  total(args: { cart: string }, deps: { net: number; tax: number }) {
    return { cart: args.cart, total: deps.net + deps.tax };
  }

  @TaskHandler('shop.check')
  check(args: { sku: string }) {
    if (args.sku === '') throw new TaskBroken('no_sku', 'an order line needs a sku');
    return args.sku;
  }

  /** A child of a broken parent gets a DependencyBroken; thrown, it breaks this task likewise. */
  @TaskHandler('shop.label')
  label(_args: { sku: string }, deps: { check: unknown }) {
    if (deps.check instanceof DependencyBroken) throw deps.check;
    return `label ${String(deps.check)}`;
  }

  /** Retried 5 minutes after each failure (its retry policy). */
  @TaskHandler('shop.charge', { retry: { backoff: { type: 'fixed', delay: '5m' } } })
  charge(args: { card: string }) {
    throw new Error(`card ${args.card} declined`);
  }

  @TaskHandler('shop.receipt')
  receipt(args: { card: string }) {
    return `receipt for ${args.card}`;
  }

  @TaskHandler('shop.index', { bulk: true })
  index(batch: BulkTask[]) {
    return new Map(batch.map((t) => [t.id, (t.args as { ok: boolean }).ok]));
  }

  /** Makes its parent when it first runs (MissingDependency: the task waits for it, then runs again). */
  @TaskHandler('shop.invoice')
  async invoice(args: { cart: string; items: number[] }, _deps: unknown, ctx: TaskContext) {
    const net = await ctx.requireDependency<number>('net', () => ctx.enqueue('shop.net', args));
    return { invoiced: net };
  }

  /** Fails twice, then succeeds; retried by snoop's tiers (RETRY_TIERS) as a policy. */
  @TaskHandler('shop.flaky', { retry: TIERS_RETRY })
  flaky(_args: { key: string }, _deps: unknown, ctx: TaskContext) {
    if (ctx.attempt < 3) throw new TaskError(`attempt ${ctx.attempt} failed`);
    return ctx.attempt;
  }

  /** Fails twice, then succeeds; its policy retries at once, three runs in all. */
  @TaskHandler('shop.eager', { retry: { attempts: 3, backoff: { type: 'fixed', delay: 0 } } })
  eager(_args: { key: string }, _deps: unknown, ctx: TaskContext) {
    if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`);
    return ctx.attempt;
  }
}

@Module({ providers: [ShopTasks] })
class ShopModule {}

const HOUR = 3_600_000;

/** Everything the shop enqueues, in the order a caller would. */
async function enqueueShop(tasks: TasksService): Promise<Record<string, TaskHandle>> {
  const net = await tasks.enqueue('shop.net', { cart: 'c1', items: [40, 60] });
  const tax = await tasks.enqueue('shop.tax', { cart: 'c1' }, { dependsOn: { net } });
  const total = await tasks.enqueue('shop.total', { cart: 'c1' }, { dependsOn: { net, tax } });
  const check = await tasks.enqueue('shop.check', { sku: '' });
  const label = await tasks.enqueue('shop.label', { sku: '' }, { dependsOn: { check } });
  const charge = await tasks.enqueue('shop.charge', { card: '4000' });
  const receipt = await tasks.enqueue('shop.receipt', { card: '4000' }, { dependsOn: { charge } });
  const [indexed, unindexable] = await tasks.enqueueMany([
    { func: 'shop.index', args: { ok: true } },
    { func: 'shop.index', args: { ok: false } },
  ]);
  const invoice = await tasks.enqueue('shop.invoice', { cart: 'c2', items: [7, 3] });
  const later = await tasks.enqueue('shop.net', { cart: 'later', items: [1] }, { runAfter: new Date(Date.now() + HOUR) });
  return { net, tax, total, check, label, charge, receipt, indexed, unindexable, invoice, later };
}

/** How each task ended, by name. */
async function outcomes(laterz: LaterzTestingApp, handles: Record<string, TaskHandle>) {
  const out: Record<string, unknown> = {};
  for (const [name, handle] of Object.entries(handles)) {
    const t = await laterz.task(handle);
    out[name] = { status: t.status, result: t.result, brokenReason: t.brokenReason, attempt: t.attempt };
  }
  return out;
}

/** The same on the engine and inline: what the real engine does with each. */
const EXPECTED = {
  net: { status: 'success', result: 100, brokenReason: '', attempt: 1 },
  tax: { status: 'success', result: 25, brokenReason: '', attempt: 1 },
  total: { status: 'success', result: { cart: 'c1', total: 125 }, brokenReason: '', attempt: 1 },
  check: { status: 'broken', result: null, brokenReason: 'no_sku', attempt: 1 },
  label: { status: 'broken', result: null, brokenReason: 'no_sku', attempt: 1 },
  // An ordinary error: `error`, retried when its policy says (5 minutes), not now.
  charge: { status: 'error', result: null, brokenReason: '', attempt: 1 },
  // Its parent failed: broken without running, as the claim does it.
  receipt: { status: 'broken', result: null, brokenReason: 'dependency_has_error', attempt: 0 },
  indexed: { status: 'success', result: null, brokenReason: '', attempt: 1 },
  unindexable: { status: 'broken', result: null, brokenReason: expect.any(String), attempt: 1 },
  // First run: asks for its parent and waits; second run: the parent's result.
  invoice: { status: 'success', result: { invoiced: 10 }, brokenReason: '', attempt: 2 },
  later: { status: 'pending', result: null, brokenReason: '', attempt: 0 },
};

describe('LaterzTesting on a given server (a database of its own)', () => {
  const server = () => process.env.LATERZ_TEST_SERVER_URL!;

  it('runUntilIdle runs the DAG, broken and failed tasks, the bulk batch and a parent made at run time; reports what waits and why', async () => {
    const laterz = await LaterzTesting.create({ imports: [ShopModule], database: { url: server() } });
    try {
      const handles = await enqueueShop(laterz.tasks);
      // Nothing runs by itself.
      expect(Object.values(handles).map((h) => h.status)).toEqual(['queued', 'queued', 'queued', 'queued', 'queued', 'queued', 'queued', 'pending', 'pending', 'queued', 'pending']);
      expect(await laterz.task(handles.net)).toMatchObject({ status: 'queued', attempt: 0 });

      const report = await laterz.runUntilIdle();

      expect(await outcomes(laterz, handles)).toEqual(EXPECTED);
      // 11 runs: invoice twice and the parent it made once, receipt and later never.
      expect(report.ran).toBe(11);
      expect(report.counts).toEqual({ success: 6, broken: 4, error: 1, pending: 1 });
      const charge = await laterz.task(handles.charge);
      expect(charge.error).toBe('Error: card 4000 declined');
      expect(report.waiting).toEqual([
        { id: handles.charge.id, collection: 'default', func: 'shop.charge', status: 'error', why: 'retry', at: expect.any(Date), error: 'Error: card 4000 declined' },
        { id: handles.later.id, collection: 'default', func: 'shop.net', status: 'pending', why: 'run_after', at: expect.any(Date) },
      ]);
      const [retry, runAfter] = report.waiting;
      expect(retry.at!.getTime()).toBeGreaterThan(Date.now() + 4 * 60_000);
      expect(runAfter.at!.getTime()).toBeGreaterThan(Date.now() + HOUR - 60_000);

      // Idle: a second call runs nothing.
      expect(await laterz.runUntilIdle()).toMatchObject({ ran: 0, rounds: 1, counts: report.counts });
    } finally {
      await laterz.close();
    }
  });

  it('runs the retries that are due now in the same call: a tiers policy (RETRY_TIERS 0:3), a backoff of 0; one out of attempts waits for an operator', async () => {
    const laterz = await LaterzTesting.create({ imports: [ShopModule], database: { url: server() }, settings: { RETRY_TIERS: '0:3' } });
    try {
      const flaky = await laterz.tasks.enqueue('shop.flaky', { key: 'a' });
      const eager = await laterz.tasks.enqueue('shop.eager', { key: 'a' });
      // The enqueue's override: two runs only, so it fails for good.
      const spent = await laterz.tasks.enqueue('shop.eager', { key: 'b' }, { retryPolicy: { attempts: 2 } });
      const report = await laterz.runUntilIdle();
      expect(report).toMatchObject({ ran: 8, counts: { success: 2, error: 1 } });
      expect(report.waiting).toEqual([{ id: spent.id, collection: 'default', func: 'shop.eager', status: 'error', why: 'failed', error: 'Error: attempt 2 failed' }]);
      expect(await laterz.task(flaky)).toMatchObject({ status: 'success', result: 3, attempt: 3, failCount: 2 });
      expect(await laterz.task(eager)).toMatchObject({ status: 'success', result: 3, attempt: 3, failCount: 2 });
      expect(await laterz.task(spent)).toMatchObject({ status: 'error', attempt: 2, failCount: 2 });
    } finally {
      await laterz.close();
    }
  });

  it('close() drops the database it made, and test apps side by side never meet', async () => {
    const [a, b] = await Promise.all([
      LaterzTesting.create({ imports: [PriceModule], database: { url: server() } }),
      LaterzTesting.create({ imports: [PriceModule], database: { url: server() } }),
    ]);
    const names = [a, b].map((t) => new URL(t.databaseUrl).pathname.slice(1));
    try {
      expect(names[0]).toMatch(/^laterz_testing_[0-9a-f]{12}$/);
      expect(names[0]).not.toBe(names[1]);
      const [ha, hb] = await Promise.all([a.tasks.enqueue('price.net', { cart: 'a', items: [1] }), b.tasks.enqueue('price.net', { cart: 'b', items: [2] })]);
      // Same ids in both (each its own database), run at once: task locks are per database.
      expect(ha.id).toBe(hb.id);
      const [ra, rb] = await Promise.all([a.runUntilIdle(), b.runUntilIdle()]);
      expect([ra.counts, rb.counts]).toEqual([{ success: 1 }, { success: 1 }]);
      expect([(await a.task(ha)).result, (await b.task(hb)).result]).toEqual([1, 2]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    const admin = new Client({ connectionString: server() });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
      expect(rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});

/** A user's own table, on the user's own TypeORM data source. */
@Entity({ name: 'cart', schema: 'public' })
class Cart {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'int', nullable: true }) total!: number | null;
}

@Injectable()
class CartTasks {
  constructor(@InjectRepository(Cart) private readonly carts: Repository<Cart>) {}

  @TaskHandler('cart.total')
  async total(args: { cartId: number }, deps: { net: number }) {
    await this.carts.update(args.cartId, { total: deps.net });
    return deps.net;
  }
}

@Injectable()
class Checkout {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tasks: TasksService,
  ) {}

  /** The cart and its tasks in one transaction of the app's own data source. */
  place(items: number[]): Promise<{ cart: Cart; total: TaskHandle }> {
    return this.dataSource.transaction(async (tx) => {
      const cart = await tx.save(Cart, { total: null });
      const net = await this.tasks.enqueue('shop.net', { cart: `cart-${cart.id}`, items }, { tx });
      const total = await this.tasks.enqueue('cart.total', { cartId: cart.id }, { dependsOn: { net }, tx });
      return { cart, total };
    });
  }
}

@Module({
  imports: [
    // The app's own data source, on the test's database (DATABASE_URL: the URL laterz opened).
    TypeOrmModule.forRootAsync({ inject: [DATABASE_URL], useFactory: (url: string) => ({ type: 'postgres', url, entities: [Cart], synchronize: true }) }),
    TypeOrmModule.forFeature([Cart]),
    ShopModule,
  ],
  providers: [CartTasks, Checkout],
})
class CartModule {}

describe('LaterzTesting with an app data source of its own', () => {
  it('enqueue in the app\'s transaction (tx), then runUntilIdle: the handler writes the app\'s row', async () => {
    const laterz = await LaterzTesting.create({ imports: [CartModule], database: { url: process.env.LATERZ_TEST_SERVER_URL! } });
    try {
      const { cart, total } = await laterz.app.get(Checkout).place([30, 12]);
      expect(await laterz.runUntilIdle()).toMatchObject({ ran: 2, counts: { success: 2 } });
      expect(await laterz.task(total)).toMatchObject({ status: 'success', result: 42 });
      expect(await laterz.app.get(DataSource).getRepository(Cart).findOneByOrFail({ id: cart.id })).toEqual({ id: cart.id, total: 42 });
    } finally {
      await laterz.close();
    }
  });
});

describe('inline mode', () => {
  const server = () => process.env.LATERZ_TEST_SERVER_URL!;

  it('each enqueue runs what it made runnable before it resolves, with the results of the engine', async () => {
    const laterz = await LaterzTesting.create({ imports: [ShopModule], database: { url: server() }, inline: true });
    try {
      const handles = await enqueueShop(laterz.tasks);
      // The handles say how each ended.
      expect(Object.fromEntries(Object.entries(handles).map(([name, h]) => [name, h.status]))).toEqual(
        Object.fromEntries(Object.entries(EXPECTED).map(([name, e]) => [name, e.status])),
      );
      expect(await outcomes(laterz, handles)).toEqual(EXPECTED);
      // Nothing left to run.
      expect(await laterz.runUntilIdle()).toMatchObject({ ran: 0, counts: { success: 6, broken: 4, error: 1, pending: 1 } });

      // Enqueues at once run once each; a retry due now is retried inline too (see the next test).
      const many = await Promise.all([1, 2, 3].map((n) => laterz.tasks.enqueue('shop.net', { cart: `m${n}`, items: [n] })));
      expect(many.map((h) => h.status)).toEqual(['success', 'success', 'success']);
    } finally {
      await laterz.close();
    }
  });

  it('retries a failure inline only when its retry is due now (a tiers policy with RETRY_TIERS 0:3, a backoff of 0)', async () => {
    const laterz = await LaterzTesting.create({ imports: [ShopModule], database: { url: server() }, inline: true, settings: { RETRY_TIERS: '0:3' } });
    try {
      const flaky = await laterz.tasks.enqueue('shop.flaky', { key: 'b' });
      expect(flaky.status).toBe('success');
      expect(await laterz.task(flaky)).toMatchObject({ result: 3, attempt: 3 });
      const eager = await laterz.tasks.enqueue('shop.eager', { key: 'b' });
      expect(eager.status).toBe('success');
      expect(await laterz.task(eager)).toMatchObject({ result: 3, attempt: 3 });
      // Not due now (its policy waits 5 minutes): the enqueue resolves with the error.
      const charge = await laterz.tasks.enqueue('shop.charge', { card: '4001' });
      expect(charge.status).toBe('error');
    } finally {
      await laterz.close();
    }
  });

  it('LaterzModule.forRoot({ inline: true }) and forRootAsync({ inline: true }) in an app of your own', async () => {
    const database = await createTestDatabase();
    const pool = new Pool({ connectionString: database.url, max: 1, options: `-c search_path=${userSettings.dbSchema}` });
    const options = { database: { url: database.url }, schema: userSettings.dbSchema };
    try {
      for (const [n, laterz] of [LaterzModule.forRoot({ ...options, inline: true }), LaterzModule.forRootAsync({ inline: true, useFactory: () => options })].entries()) {
        @Module({ imports: [laterz, ShopModule] })
        class ShopApp {}
        const app = await NestFactory.createApplicationContext(ShopApp, { logger: ['error'], abortOnError: false });
        try {
          const tasks = app.get(TasksService);
          const net = await tasks.enqueue('shop.net', { cart: `own${n}`, items: [2, 3] });
          const tax = await tasks.enqueue('shop.tax', { cart: `own${n}` }, { dependsOn: { net } });
          expect([net.status, tax.status]).toEqual(['success', 'success']);
          const { rows } = await pool.query('SELECT result FROM task WHERE id = $1', [tax.id]);
          expect(rows).toEqual([{ result: 1.25 }]);
        } finally {
          await app.close();
        }
      }
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});

describe('LaterzTesting options', () => {
  it('names each wrong field before making anything', async () => {
    await expect(LaterzTesting.create({ database: { url: 'mysql://localhost/x' } })).rejects.toThrow(/database\.url: DATABASE_URL must be a postgres/);
    await expect(LaterzTesting.create({ databse: {} } as never)).rejects.toThrow(/databse: not a LaterzTesting option/);
    await expect(LaterzTesting.create({ settings: { RETRY_TIERS: 'soon' } })).rejects.toThrow(InvalidLaterzOptions);
    expect(() => LaterzModule.forRoot({ inline: true, roles: ['worker'] })).toThrow(/roles: inline, every task runs in the caller/);
    expect(() => LaterzModule.forRoot({ inline: true, transport: { amqpUrl: 'amqp://localhost' } })).toThrow(/transport: inline, every task runs in the caller/);
    expect(() => LaterzModule.forRoot({ inline: 'yes' as never })).toThrow(/inline: must be true or false/);
  });
});

describe('LaterzTesting on the embedded default', () => {
  const ours = () => readdirSync(tmpdir()).filter((name) => name.startsWith('laterz-testing-'));

  it('starts an embedded PostgreSQL in a temporary folder, runs, and close() stops and deletes it', async () => {
    const before = ours();
    const laterz = await LaterzTesting.create({ imports: [PriceModule], inline: true });
    let url: string | undefined;
    try {
      url = laterz.databaseUrl;
      expect(ours().length).toBe(before.length + 1);
      const net = await laterz.tasks.enqueue('price.net', { cart: 'e', items: [5, 6] });
      expect(await laterz.task(net)).toMatchObject({ status: 'success', result: 11 });
    } finally {
      await laterz.close();
    }
    expect(ours()).toEqual(before);
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    await expect(client.connect()).rejects.toThrow();
  }, 120_000);
});
