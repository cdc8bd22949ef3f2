import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { MIGRATIONS } from '../../migrations/index.js';
import { waitFor } from '../helpers/databases.js';
import { createEmptyDatabase } from '../helpers/empty-database.js';
import { userSettings } from '../helpers/scratch.js';
import { freePort, ready, ROOT, ServiceProcess, startNode, stopIfRunning } from '../helpers/service-process.js';
import { run } from '../helpers/run-command.js';

// The `laterz` bin as the Docker image runs it (Dockerfile): in /app, an ES-module project with laterz
// installed in node_modules as `npm pack` ships it, beside its production dependencies, and the user's
// compiled handlers under /app/handlers, importing 'laterz' and '@nestjs/common' as any user's code
// does. There is no Docker engine here: a temporary folder is laid out the same way (laterz from the
// packed tarball of the current dist/, the dependencies linked to the repository's node_modules), and
// the handlers are compiled from TypeScript by tsc, against the installed package's declarations.

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const ENQUEUER = 'cli-enqueuer-token-0123456789';

/** A user's handlers, two files: a named module export, and a default one whose handler enqueues through the injected TasksService. */
const GREET_TS = `
import { Injectable, Module } from '@nestjs/common';
import { TaskHandler, type TaskContext } from 'laterz';

@Injectable()
export class GreetTasks {
  @TaskHandler('cli.greet')
  async greet(args: { name: string }, _deps: unknown, ctx: TaskContext) {
    ctx.logger.info('greeting ' + args.name);
    return { greeting: 'hello ' + args.name, pid: process.pid };
  }
}

@Module({ providers: [GreetTasks] })
export class GreetModule {}
`;
const SHOUT_TS = `
import { Injectable, Module } from '@nestjs/common';
import { TaskHandler, TasksService } from 'laterz';

@Injectable()
class ShoutTasks {
  constructor(private readonly tasks: TasksService) {}

  @TaskHandler('cli.shout')
  async shout(args: { name: string }) {
    const greet = await this.tasks.enqueue('cli.greet', { name: args.name.toUpperCase() });
    return { greetTask: greet.id };
  }
}

@Module({ providers: [ShoutTasks] })
export default class ShoutModule {}
`;

/** The service's API on `port`, as the enqueuer token calls it. */
const enqueuerApi = (port: number) => (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { authorization: `Bearer ${ENQUEUER}`, 'content-type': 'application/json', connection: 'close' } });

/** The task, once it has ended (success, error or broken); false before. */
const finishedVia = (api: ReturnType<typeof enqueuerApi>) => async (taskId: string) => {
  const body = (await (await api(`/api/tasks/${taskId}`)).json()) as { task: { status: string; result: unknown; error: string } };
  return ['success', 'error', 'broken'].includes(body.task.status) && body.task;
};

async function mustRun(command: string, args: string[], cwd: string): Promise<string> {
  const r = await run(command, args, cwd);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * /app as the Dockerfile's build stage makes it: package.json `{ private, type: module }`, the packed
 * laterz extracted into node_modules/laterz, the production dependencies beside it (here: links to
 * the repository's), the bin linked as the image links /usr/local/bin/laterz. Returns the bin's path.
 */
async function layOutImage(app: string, packDir: string): Promise<string> {
  const [packed] = JSON.parse(await mustRun('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT)) as { filename: string }[];
  const laterz = join(app, 'node_modules', 'laterz');
  mkdirSync(laterz, { recursive: true });
  mkdirSync(join(app, 'handlers'));
  await mustRun('tar', ['-xzf', join(packDir, packed.filename), '--strip-components=1', '-C', laterz], app);
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'laterz') continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(app, 'node_modules', entry));
  }
  writeFileSync(join(app, 'package.json'), '{ "private": true, "type": "module" }\n');
  mkdirSync(join(app, 'node_modules', '.bin'));
  const bin = join(app, 'node_modules', '.bin', 'laterz');
  symlinkSync('../laterz/dist/src/cli/laterz.js', bin);
  return bin;
}

/** Compiles the user's handlers (src/*.ts) into `out` as a user's build does: tsc, nodenext, decorators with metadata, strict. */
async function compileHandlers(project: string, out: string, files: Record<string, string>): Promise<void> {
  mkdirSync(join(project, 'src'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(project, 'src', name), text);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'ES2022',
        strict: true,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        skipLibCheck: true,
        types: [],
        rootDir: 'src',
        outDir: out,
      },
      include: ['src'],
    }),
  );
  await mustRun(process.execPath, [TSC, '-p', project], project);
}

describe('the laterz bin, laid out as the Docker image', () => {
  let tmp: string;
  let app: string;
  let bin: string;
  let proc: ServiceProcess | undefined;
  const databases: { drop: () => Promise<void> }[] = [];

  /** The bin in /app (its working directory), with only these variables of laterz's. */
  const laterz = (args: string[], env: Record<string, string> = {}) => startNode(bin, { LOG_FORMAT: 'json', ...env }, { cwd: app, args });

  async function emptyDatabase(): Promise<string> {
    const database = await createEmptyDatabase();
    databases.push(database);
    return database.url;
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'laterz-cli-'));
    app = join(tmp, 'app');
    mkdirSync(app);
    bin = await layOutImage(app, tmp);
    // The user's project compiles in its own folder against the image's laterz (as against an
    // installed one): the project lives in /app so that 'laterz' resolves; what ships is handlers/.
    await compileHandlers(join(app, 'project'), join(app, 'handlers'), { 'greet.handlers.ts': GREET_TS, 'shout.handlers.ts': SHOUT_TS });
  }, 180_000);

  afterEach(async () => {
    await stopIfRunning(proc);
    proc = undefined;
  });

  afterAll(async () => {
    for (const database of databases) await database.drop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('start --handlers: the service on a fresh database (migrated at start) runs the handlers of what an enqueuer token enqueues; SIGINT → exit 0', async () => {
    const port = await freePort();
    const url = await emptyDatabase();
    proc = laterz(['start', '--handlers', 'handlers/greet.handlers.js', '--handlers', 'handlers/shout.handlers.js'], {
      DATABASE_URL: url,
      DB_SCHEMA: userSettings.dbSchema,
      PORT: String(port),
      ADMIN_TOKENS: `enqueuer:${ENQUEUER}`,
      LOG_LEVEL: 'info',
      WORKER_POLL_MS: '200',
      SHUTDOWN_GRACE_SECONDS: '5',
    });
    await ready(proc, port);
    const api = enqueuerApi(port);

    const enqueued = await api('/api/tasks', { method: 'POST', body: JSON.stringify({ func: 'cli.shout', args: { name: 'ada' } }) });
    expect(enqueued.status).toBe(201);
    const { id } = (await enqueued.json()) as { id: string };
    const finished = finishedVia(api);
    const shout = await waitFor(() => finished(id), `task ${id} (cli.shout) to finish`, 30_000);
    expect(shout).toMatchObject({ status: 'success', result: { greetTask: expect.any(String) } });
    const greetId = (shout.result as { greetTask: string }).greetTask;
    const greet = await waitFor(() => finished(greetId), `task ${greetId} (cli.greet) to finish`, 30_000);
    expect(greet).toMatchObject({ status: 'success', result: { greeting: 'hello ADA' } });
    // The enqueuer may not retry.
    expect((await api(`/api/tasks/${id}/retry`, { method: 'POST', body: '{}' })).status).toBe(403);

    // Both files were loaded, each module named; the pipeline of `npm start` is not part of the bin.
    expect(proc.stdout).toMatch(/handlers: .*greet\.handlers\.js \(GreetModule\); .*shout\.handlers\.js \(ShoutModule\)/);
    expect(proc.stdout).not.toMatch(/text\.extract|demo:/);

    proc.child.kill('SIGINT');
    expect(await proc.exited).toBe(0);
    expect(proc.stderr).toBe('');
  }, 90_000);

  it('start: LATERZ_HANDLERS names the files when --handlers does not', async () => {
    const port = await freePort();
    proc = laterz(['start'], {
      DATABASE_URL: await emptyDatabase(),
      DB_SCHEMA: userSettings.dbSchema,
      PORT: String(port),
      ROLES: 'api',
      ADMIN_TOKENS: `enqueuer:${ENQUEUER}`,
      LOG_LEVEL: 'info',
      LATERZ_HANDLERS: 'handlers/greet.handlers.js, handlers/shout.handlers.js',
    });
    await ready(proc, port);
    expect(proc.stdout).toMatch(/handlers: .*\(GreetModule\); .*\(ShoutModule\)/);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 90_000);

  it('start --handlers with WORKER_ISOLATION=process: each handler runs in a pooled child process of the installed package, TasksService injected there works', async () => {
    const port = await freePort();
    proc = laterz(['start', '--handlers', 'handlers/greet.handlers.js', '--handlers', 'handlers/shout.handlers.js'], {
      DATABASE_URL: await emptyDatabase(),
      DB_SCHEMA: userSettings.dbSchema,
      PORT: String(port),
      ADMIN_TOKENS: `enqueuer:${ENQUEUER}`,
      LOG_LEVEL: 'info',
      WORKER_POLL_MS: '200',
      WORKER_ISOLATION: 'process',
    });
    await ready(proc, port);
    const api = enqueuerApi(port);
    const finished = finishedVia(api);
    const { id } = (await (await api('/api/tasks', { method: 'POST', body: JSON.stringify({ func: 'cli.shout', args: { name: 'bo' } }) })).json()) as { id: string };
    const shout = await waitFor(() => finished(id), `task ${id} (cli.shout) to finish`, 30_000);
    expect(shout).toMatchObject({ status: 'success', result: { greetTask: expect.any(String) } });
    const greet = await waitFor(() => finished((shout.result as { greetTask: string }).greetTask), 'cli.greet to finish', 30_000);
    expect(greet).toMatchObject({ status: 'success', result: { greeting: 'hello BO' } });
    expect((greet.result as { pid: number }).pid).not.toBe(proc.child.pid);
    expect(proc.stdout).toContain('isolated: cli.greet (process), cli.shout (process)');

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.stderr).toBe('');
  }, 90_000);

  it('migrate: applies the migrations to a fresh database and exits 0; a second run has nothing to do', async () => {
    const url = await emptyDatabase();
    const env = { DATABASE_URL: url, DB_SCHEMA: userSettings.dbSchema };
    proc = laterz(['migrate'], env);
    expect(await proc.exited).toBe(0);
    expect(proc.stdout.trim()).toBe(`applied: ${MIGRATIONS.map((m) => m.name).join(', ')}`);
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [userSettings.dbSchema, 'task']);
      expect(rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
    proc = laterz(['migrate'], env);
    expect(await proc.exited).toBe(0);
    expect(proc.stdout.trim()).toBe('no pending migrations');
  }, 60_000);

  describe('refuses, naming what is wrong', () => {
    const DB = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/never-reached' };

    it('a handlers file that does not exist (exit 1), from --handlers or LATERZ_HANDLERS', async () => {
      proc = laterz(['start', '--handlers', 'handlers/missing.js'], DB);
      expect(await proc.exited).toBe(1);
      expect(proc.stderr.trim()).toBe(`laterz: handlers file handlers/missing.js (--handlers) not found: ${join(app, 'handlers', 'missing.js')}`);
      proc = laterz(['start'], { ...DB, LATERZ_HANDLERS: 'handlers/greet.handlers.js,nowhere/else.js' });
      expect(await proc.exited).toBe(1);
      expect(proc.stderr).toContain('laterz: handlers file nowhere/else.js (LATERZ_HANDLERS) not found');
    });

    it('a file that exports no Nest module (exit 1)', async () => {
      writeFileSync(join(app, 'handlers', 'plain.js'), "export const answer = 42;\nexport class NotAModule {}\nexport default function helper() {}\n");
      proc = laterz(['start', '--handlers', 'handlers/plain.js'], DB);
      expect(await proc.exited).toBe(1);
      expect(proc.stderr).toContain(
        'laterz: handlers file handlers/plain.js (--handlers) exports no Nest module (its exports: NotAModule, answer, default): ' +
          'export a class decorated with @Module({ providers: [YourHandlers] }), as the default export or a named one',
      );
    });

    it('a file that would load another copy of laterz (its own node_modules/laterz) (exit 1)', async () => {
      const own = join(app, 'vendored');
      mkdirSync(join(own, 'node_modules'), { recursive: true });
      cpSync(join(app, 'node_modules', 'laterz'), join(own, 'node_modules', 'laterz'), { recursive: true });
      cpSync(join(app, 'handlers', 'greet.handlers.js'), join(own, 'greet.handlers.js'));
      proc = laterz(['start', '--handlers', 'vendored/greet.handlers.js'], DB);
      expect(await proc.exited).toBe(1);
      expect(proc.stderr).toContain(
        `laterz: handlers file vendored/greet.handlers.js (--handlers): 'laterz' resolves there to ${join(own, 'node_modules', 'laterz', 'dist', 'src', 'index.js')}, ` +
          `not to the laterz this service runs (${join(app, 'node_modules', 'laterz', 'dist', 'src', 'index.js')})`,
      );
    });

    it('an unknown command or option: the usage on stderr, exit 2', async () => {
      for (const args of [['serve'], ['start', '--port', '3000'], []]) {
        proc = laterz(args, DB);
        expect({ args, code: await proc.exited }).toEqual({ args, code: 2 });
        expect(proc.stderr).toMatch(/^laterz: (unknown command 'serve'|unknown option '--port'|no command given)\n\nUsage: laterz <command> \[options\]/);
        expect(proc.stdout).toBe('');
      }
    });

    it('answers --help and --version on stdout, exit 0', async () => {
      proc = laterz(['--help']);
      expect(await proc.exited).toBe(0);
      expect(proc.stdout).toMatch(/^Usage: laterz <command> \[options\]/);
      proc = laterz(['--version']);
      expect(await proc.exited).toBe(0);
      expect(proc.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    });
  });
});
