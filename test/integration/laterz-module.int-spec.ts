import { Controller, DynamicModule, Get, INestApplication, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import request from 'supertest';
import { Column, DataSource, Entity, PrimaryGeneratedColumn, Repository } from 'typeorm';
import { DATABASE_URL, InvalidLaterzOptions, LaterzModule, type LaterzFactoryOptions, type LaterzOptions, TaskHandler, TasksService } from '../../src/index.js';
import { finishedTask } from '../factories/task.factory.js';
import { createTestDatabase } from '../helpers/databases.js';
import { userSettings } from '../helpers/scratch.js';
import { freePort, pgrep, removeDataDir } from '../helpers/service-process.js';

/** A user's own table, on the user's own TypeORM data source (schema public, beside laterz's). */
@Entity({ name: 'shop_order', schema: 'public' })
class Order {
  @PrimaryGeneratedColumn() id!: number;
  @Column() note!: string;
}

/** The user's handlers: an ordinary provider of the user's module, using the user's own repository. */
@Injectable()
class OrderHandlers {
  constructor(@InjectRepository(Order) private readonly orders: Repository<Order>) {}

  @TaskHandler('shop.note')
  async note(args: { note: string }) {
    const order = await this.orders.save(this.orders.create({ note: args.note }));
    return { order: order.id };
  }
}

/** A user's service that enqueues: TasksService is injected without importing anything of laterz. */
@Injectable()
class Checkout {
  constructor(private readonly tasks: TasksService) {}

  place(note: string) {
    return this.tasks.enqueue('shop.note', { note });
  }
}

/** A route of the user's own: no laterz token, no laterz pipe touches it. */
@Controller('hello')
class HelloController {
  @Get()
  hello() {
    return { hello: 'world' };
  }
}

@Module({ imports: [TypeOrmModule.forFeature([Order])], providers: [OrderHandlers, Checkout], controllers: [HelloController] })
class ShopModule {}

/** A ConfigService-like provider of the user's: what the async factory reads. */
@Injectable()
class ShopConfig {
  readonly values: Record<string, string> = {};
  get(key: string): string {
    return this.values[key];
  }
}

/** Tests drive nothing through the cron jobs; they stay out of the way. */
const QUIET = { WORKER_POLL_MS: 200, SHUTDOWN_GRACE_SECONDS: 5, DISPATCH_INTERVAL_SECONDS: 86400, BULK_INTERVAL_SECONDS: 86400, STATS_INTERVAL_SECONDS: 86400 } as const;
const VIEWER = 'module-viewer-token-0123456789';

describe('LaterzModule in a Nest app of its own', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Pool;
  let app: INestApplication | undefined;

  /** The user's app: its TypeORM data source, laterz, and its shop module. */
  async function start(laterz: DynamicModule, own: { typeorm?: boolean; logs?: false } = { typeorm: true }): Promise<INestApplication> {
    @Module({
      imports: [
        ...(own.typeorm ? [TypeOrmModule.forRoot({ type: 'postgres', url: database.url, entities: [Order], synchronize: false })] : []),
        laterz,
        ...(own.typeorm ? [ShopModule] : []),
      ],
    })
    class UserAppModule {}
    app = await NestFactory.create(UserAppModule, { logger: own.logs ?? ['error'], abortOnError: false });
    await app.init();
    return app;
  }

  /** Options on the test database (forRoot's, or what a forRootAsync factory returns). */
  const options = (): LaterzFactoryOptions => ({ database: { url: database.url }, schema: userSettings.dbSchema, transport: 'postgres', settings: QUIET });

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Pool({ connectionString: database.url, max: 2, options: `-c search_path=${userSettings.dbSchema}` });
    await db.query('CREATE TABLE public.shop_order (id serial PRIMARY KEY, note text NOT NULL)');
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    await db.end();
    await database.drop();
  });

  it('forRoot: a handler of the app runs what a service of the app enqueues; no admin route and no guard when api is left out', async () => {
    const nest = await start(LaterzModule.forRoot({ ...options(), roles: ['worker', 'scheduler'] }));
    const handle = await nest.get(Checkout).place('first order');
    const row = await finishedTask(db, handle.id);
    expect(row.status).toBe('success');
    const { rows } = await db.query('SELECT id, note FROM public.shop_order');
    expect(rows).toEqual([{ id: row.result.order, note: 'first order' }]);

    // The app's default data source is its own; laterz's is named.
    expect(nest.get(DataSource).hasMetadata(Order)).toBe(true);
    expect(nest.get<DataSource>(getDataSourceToken('laterz'))).not.toBe(nest.get(DataSource));

    const http = nest.getHttpServer();
    expect((await request(http).get('/hello')).body).toEqual({ hello: 'world' });
    for (const path of ['/laterz/api/queues', '/api/queues', '/api/tasks', '/metrics', '/health/live', '/laterz/health/live', '/docs']) {
      expect({ path, status: (await request(http).get(path)).status }).toEqual({ path, status: 404 });
    }
  });

  it('forRootAsync: options from a provider of the app; the admin API under its prefix, behind its tokens, and nothing else guarded', async () => {
    @Module({ providers: [ShopConfig], exports: [ShopConfig] })
    class ShopConfigModule {}
    const nest = await start(
      LaterzModule.forRootAsync({
        imports: [ShopConfigModule],
        inject: [ShopConfig],
        api: { prefix: 'laterz' },
        useFactory: (config: ShopConfig) => {
          config.values.LATERZ_DB = database.url;
          config.values.LATERZ_VIEWER = VIEWER;
          return { ...options(), database: { url: config.get('LATERZ_DB') }, api: { tokens: [{ role: 'viewer', token: config.get('LATERZ_VIEWER') }] } };
        },
      }),
    );
    const handle = await nest.get(Checkout).place('second order');
    expect((await finishedTask(db, handle.id)).status).toBe('success');

    const http = nest.getHttpServer();
    const viewer = (path: string) => request(http).get(path).set('authorization', `Bearer ${VIEWER}`);
    const queues = await viewer('/laterz/api/queues');
    expect(queues.status).toBe(200);
    expect(queues.body.transport).toBe('postgres');
    expect(queues.body.funcs.map((f: { func: string }) => f.func)).toContain('shop.note');
    // The API's guard, pipe and error filter, on its own routes.
    const anon = await request(http).get('/laterz/api/queues');
    expect(anon.status).toBe(401);
    expect(anon.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    expect(anon.headers['www-authenticate']).toBe('Bearer realm="laterz"');
    const unknownParam = await viewer('/laterz/api/queues?x=1');
    expect(unknownParam.status).toBe(400);
    expect(unknownParam.body.fields).toEqual(['x']);
    expect((await request(http).post('/laterz/api/tasks').set('authorization', `Bearer ${VIEWER}`).send({ func: 'shop.note', args: {} })).status).toBe(403);
    expect((await request(http).get('/laterz/health/live')).body).toEqual({ status: 'ok' });
    expect((await viewer('/laterz/metrics')).status).toBe(200);

    // Not at the root, and the app's own route needs no token.
    expect((await viewer('/api/queues')).status).toBe(404);
    expect((await request(http).get('/hello')).status).toBe(200);
  });

  it('names the wrong field: at forRoot, at forRootAsync, and for what a factory returns when the app is built', async () => {
    const wrong = (given: unknown) => {
      try {
        LaterzModule.forRoot(given as LaterzOptions);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidLaterzOptions);
        return (err as Error).message;
      }
      throw new Error('expected forRoot to throw');
    };
    expect(wrong({ roles: ['worker', 'workr'] })).toMatch(/roles\[1\]: "workr" is not a role/);
    expect(wrong({ database: { url: 'mysql://localhost/x' } })).toMatch(/database\.url: DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(wrong({ database: { url: database.url, embedded: {} } })).toMatch(/database: must be \{ url \} or \{ embedded/);
    expect(wrong({ databse: { url: database.url } })).toMatch(/databse: not a LaterzModule option/);
    expect(wrong({ settings: { WORKER_CONCURENCY: 4 } })).toMatch(/settings\.WORKER_CONCURENCY: not a laterz setting/);
    expect(wrong({ settings: { WORKER_CONCURRENCY: 0 } })).toMatch(/settings\.WORKER_CONCURRENCY: WORKER_CONCURRENCY must not be less than 1 \(given 0\)/);
    expect(wrong({ settings: { PORT: 8080 } })).toMatch(/settings\.PORT: a setting of the service alone/);
    expect(wrong({ schema: 'Shop-Schema' })).toMatch(/schema: DB_SCHEMA must be a lower-case SQL identifier/);
    expect(wrong({ transport: { amqpUrl: 'http://rabbit' } })).toMatch(/transport\.amqpUrl: AMQP_URL must be an amqp:\/\/ or amqps:\/\/ URL/);
    expect(wrong({ database: { url: database.url }, api: { prefix: 'laterz' } })).toMatch(/api\.tokens: the admin API needs a token when the database is a URL/);
    expect(wrong({ api: { prefix: 'a b', tokens: [{ role: 'admin', token: 'short' }] } })).toMatch(/api\.prefix: "a b".*\n.*api\.tokens\[0\]\.role/s);
    // Every wrong field at once.
    expect(wrong({ roles: ['x'], schema: 'X', settings: { NOPE: 1 } }).split('\n')).toHaveLength(4);

    expect(() => LaterzModule.forRootAsync({ roles: ['api' as never], useFactory: () => ({}) })).toThrow(/roles\[0\]: 'api' needs the api option/);
    await expect(start(LaterzModule.forRootAsync({ useFactory: () => ({ ...options(), schema: 'Bad-Schema' }) }), { logs: false })).rejects.toThrow(/schema: DB_SCHEMA must be a lower-case SQL identifier/);
    await expect(start(LaterzModule.forRootAsync({ useFactory: () => ({ ...options(), roles: ['worker'] }) as never }), { logs: false })).rejects.toThrow(/roles: give it to forRootAsync itself/);
    app = undefined;
  });

  it('on an embedded PostgreSQL: boots, runs a task, and app.close() stops the server', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'laterz-module-'));
    try {
      @Injectable()
      class Greeter {
        @TaskHandler('hello.greet')
        greet(args: { name: string }) {
          return `hello ${args.name}`;
        }
      }
      @Module({ providers: [Greeter] })
      class GreeterModule {}
      const port = await freePort();
      @Module({ imports: [LaterzModule.forRoot({ database: { embedded: { dataDir, port } }, transport: 'postgres', settings: QUIET }), GreeterModule] })
      class GreeterApp {}
      const nest = await NestFactory.create(GreeterApp, { logger: ['error'], abortOnError: false });
      app = nest;
      await nest.init();
      const url = nest.get<string>(DATABASE_URL);
      expect(new URL(url).port).toBe(String(port));
      const handle = await nest.get(TasksService).enqueue('hello.greet', { name: 'module' });
      const embedded = new Pool({ connectionString: url, max: 1, options: '-c search_path=laterz' });
      try {
        const row = await finishedTask(embedded, handle.id);
        expect(row).toMatchObject({ status: 'success', result: 'hello module' });
      } finally {
        await embedded.end();
      }

      await nest.close();
      app = undefined;
      expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
      expect(await pgrep(dataDir)).toEqual([]);
      const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      await expect(client.connect()).rejects.toThrow();
    } finally {
      await removeDataDir(dataDir);
    }
  });
});
