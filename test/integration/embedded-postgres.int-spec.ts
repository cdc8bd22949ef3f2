import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { binariesRunnableBy, installedBinaries } from '../../src/database/embedded/binaries.js';
import { isRoot, serverAccount } from '../../src/database/embedded/os-account.js';
import { EmbeddedPostgresServer } from '../../src/database/embedded-postgres.js';
import { waitFor } from '../helpers/databases.js';
import { freePort, pgrep, ready, removeDataDir, ServiceProcess, startNode } from '../helpers/service-process.js';

/** The built service, as `npm run start:prod` runs it. */
const MAIN = 'dist/src/main.js';
/** The built service plus test handlers (sd.gate runs until the test creates its release file). */
const WITH_TEST_HANDLERS = 'test/helpers/worker-process.mjs';
const OPERATOR_TOKEN = 'embedded-test-operator-token-0123456789';

interface LogLine {
  level: number;
  msg: string;
}

/** The service's JSON log lines (stdout). */
function logLines(proc: ServiceProcess): LogLine[] {
  return proc.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

describe('the built service on its embedded PostgreSQL (no DATABASE_URL), each test on a data folder of its own', () => {
  const dirs: string[] = [];
  const procs: ServiceProcess[] = [];
  let blocker: Server | undefined;
  let server: EmbeddedPostgresServer | undefined;

  const newDataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'laterz-embedded-'));
    dirs.push(dir);
    return dir;
  };
  const start = (script: string, env: Record<string, string>, options: { detached?: boolean } = {}) => {
    const proc = startNode(script, { LOG_FORMAT: 'json', LOG_LEVEL: 'info', PIPELINE_ENABLED: 'false', ...env }, options);
    procs.push(proc);
    return proc;
  };

  /** The service with sd.gate, in a process group of its own (as a terminal starts it), up and with one sd.gate task running. */
  async function serviceRunningATask(dataDir: string, release: string): Promise<{ proc: ServiceProcess; id: string; pgPort: number }> {
    const pgPort = await freePort();
    const port = await freePort();
    const proc = start(
      WITH_TEST_HANDLERS,
      { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: String(port), ADMIN_TOKENS: `operator:${OPERATOR_TOKEN}`, WORKER_POLL_MS: '100' },
      { detached: true },
    );
    await ready(proc, port);
    const api = (path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${port}/api/tasks${path}`, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json', connection: 'close' },
        body: body ? JSON.stringify(body) : undefined,
      });
    const made = await api('', { func: 'sd.gate', args: { release } });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    await waitFor(async () => ((await (await api(`/${id}`)).json()) as { task: { status: string } }).task.status === 'started', 'the task to run');
    return { proc, id, pgPort };
  }

  afterEach(async () => {
    blocker?.close();
    blocker = undefined;
    await server?.stop();
    server = undefined;
    for (const proc of procs.splice(0)) {
      // A server the service left behind runs in a session of its own: it is ended below.
      if (!proc.hasExited()) proc.child.kill('SIGKILL');
      await proc.exited;
    }
    for (const dir of dirs.splice(0)) await removeDataDir(dir);
  }, 60000);

  it('Ctrl-C (SIGINT to its whole process group) while a task runs: the task finishes, the process exits 0, nothing is logged as a warning or error', async () => {
    const dataDir = newDataDir();
    const release = join(dataDir, 'release-the-task');
    const { proc, id, pgPort } = await serviceRunningATask(dataDir, release);

    // What a terminal does on Ctrl-C: SIGINT to every process of its foreground group.
    process.kill(-proc.child.pid!, 'SIGINT');
    await waitFor(async () => proc.stdout.includes('shutting down on SIGINT'), 'the service to begin its shutdown');
    writeFileSync(release, '');
    await waitFor(async () => proc.hasExited(), 'the service to exit after SIGINT', 45000);
    expect(await proc.exited).toBe(0);
    expect(logLines(proc).filter((l) => l.level >= 40)).toEqual([]);
    expect(logLines(proc).map((l) => l.msg)).toContain('worker stopped: 1 running tasks finished, 0 handed back');
    expect(proc.stderr).toBe('');
    expect(await pgrep(dataDir)).toEqual([]);

    // The row itself, read from the same data folder once the service is gone.
    server = new EmbeddedPostgresServer({ dataDir, port: pgPort });
    const client = new Client({ connectionString: await server.start() });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT status::text AS status, attempt, result FROM laterz.task WHERE id = $1', [id]);
      expect(rows).toEqual([{ status: 'success', attempt: 1, result: 'released' }]);
    } finally {
      await client.end();
    }
  }, 120000);

  it('a second Ctrl-C while the task still runs exits at once (130), saying so, and the embedded server stops too', async () => {
    const dataDir = newDataDir();
    const { proc } = await serviceRunningATask(dataDir, join(dataDir, 'never-created'));

    process.kill(-proc.child.pid!, 'SIGINT');
    await waitFor(async () => proc.stdout.includes('shutting down on SIGINT'), 'the service to begin its shutdown');
    process.kill(-proc.child.pid!, 'SIGINT');
    await waitFor(async () => proc.hasExited(), 'the service to exit on the second SIGINT');
    expect(await proc.exited).toBe(130);
    expect(logLines(proc).filter((l) => l.level >= 40).map((l) => l.msg)).toEqual(['SIGINT while shutting down: exiting at once']);
    // Told to stop as laterz exited: no server is left running on the data folder.
    await waitFor(async () => (await pgrep(dataDir)).length === 0, 'the embedded server to stop');
  }, 120000);

  it("cannot start the embedded server because its port is taken: exits 1 naming the cause, with the server's last log lines", async () => {
    const pgPort = await freePort();
    blocker = createServer();
    await new Promise<void>((res) => blocker!.listen(pgPort, '127.0.0.1', res));
    const dataDir = newDataDir();
    const proc = start(MAIN, { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: String(await freePort()) });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr).toContain(`laterz failed to start: embedded PostgreSQL did not start: port ${pgPort} on 127.0.0.1 is already in use`);
    // PostgreSQL's own words, quoted.
    expect(proc.stderr).toMatch(/could not bind IPv4 address "127\.0\.0\.1": Address already in use/);
    expect(await pgrep(dataDir)).toEqual([]);
  }, 60000);

  it("cannot start the embedded server because another server runs on its data folder: exits 1 naming the cause, with the server's last log lines", async () => {
    const dataDir = newDataDir();
    server = new EmbeddedPostgresServer({ dataDir, port: await freePort() });
    await server.start();
    const proc = start(MAIN, { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), PORT: String(await freePort()) });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr).toMatch(
      new RegExp(`laterz failed to start: embedded PostgreSQL did not start: its data folder ${join(dataDir, 'pg')} is in use by another PostgreSQL server \\(pid \\d+\\)`),
    );
    expect(proc.stderr).toMatch(/lock file "postmaster\.pid" already exists/);
  }, 60000);
});

describe('as root, with the binaries under a folder the server account cannot enter (a clone in a 0700 home)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  (isRoot() ? it : it.skip)('copies them into DATA_DIR once and runs them from there', async () => {
    const installed = await installedBinaries();
    const closed = mkdtempSync(join(tmpdir(), 'laterz-closed-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'laterz-embedded-'));
    dirs.push(closed, dataDir);
    chmodSync(dataDir, 0o755); // as EmbeddedPostgresServer.start() opens it
    cpSync(dirname(dirname(installed.postgres)), join(closed, 'native'), { recursive: true, verbatimSymlinks: true });
    const unreachable = { postgres: join(closed, 'native/bin/postgres'), initdb: join(closed, 'native/bin/initdb'), version: installed.version };
    const account = (await serverAccount())!;
    const runAs = (binary: string) => spawnSync(binary, ['-V'], { uid: account.uid, gid: account.gid, encoding: 'utf8' });
    expect(runAs(unreachable.postgres).error?.message).toMatch(/EACCES/);

    const runnable = await binariesRunnableBy(unreachable, account, dataDir);
    expect(runnable).toEqual({
      postgres: join(dataDir, `postgres-${installed.version}`, 'bin', 'postgres'),
      initdb: join(dataDir, `postgres-${installed.version}`, 'bin', 'initdb'),
      version: installed.version,
    });
    expect(runAs(runnable.postgres).stdout).toMatch(/^postgres \(PostgreSQL\) \d+/);
    expect(runAs(runnable.initdb).stdout).toMatch(/^initdb \(PostgreSQL\) \d+/);
    // The next start finds the copy.
    expect(await binariesRunnableBy(unreachable, account, dataDir)).toEqual(runnable);
  });
});
