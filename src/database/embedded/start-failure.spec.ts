import { EmbeddedPostgresStartError, StartFailure, startFailureCause } from './start-failure.js';

/** Lines as PostgreSQL 18 and its initdb print them. */
const at = '2026-12-03 12:39:55.962 UTC [30889]';
const failure = (lines: string[], more: Partial<StartFailure> = {}): StartFailure => ({
  program: 'postgres',
  ended: 'exited with code 1',
  lines,
  port: 54933,
  pgDir: '/srv/laterz/pg',
  ...more,
});

describe('startFailureCause', () => {
  it('names the port when another process listens on it', () => {
    const lines = [
      `${at} LOG:  starting PostgreSQL 18.4 on x86_64-pc-linux-gnu`,
      `${at} LOG:  could not bind IPv4 address "127.0.0.1": Address already in use`,
      `${at} HINT:  Is another postmaster already running on port 54933? If not, wait a few seconds and retry.`,
      `${at} WARNING:  could not create listen socket for "127.0.0.1"`,
      `${at} FATAL:  could not create any TCP/IP sockets`,
      `${at} LOG:  database system is shut down`,
    ];
    expect(startFailureCause(failure(lines))).toBe('port 54933 on 127.0.0.1 is already in use (set EMBEDDED_PG_PORT to a free port)');
  });

  it('names the data folder and the other server when another server runs on it', () => {
    const lines = [`${at} FATAL:  lock file "postmaster.pid" already exists`, `${at} HINT:  Is another postmaster (PID 30927) running in data directory "/srv/laterz/pg"?`];
    expect(startFailureCause(failure(lines))).toBe(
      'its data folder /srv/laterz/pg is in use by another PostgreSQL server (pid 30927): stop that server, or set DATA_DIR to another folder',
    );
  });

  it("names the port when another server's socket lock holds it", () => {
    const lines = [`${at} FATAL:  lock file "/tmp/.s.PGSQL.54933.lock" already exists`, `${at} HINT:  Is another postmaster (PID 411) using socket file "/tmp/.s.PGSQL.54933"?`];
    expect(startFailureCause(failure(lines))).toBe('port 54933 is in use by another PostgreSQL server (pid 411) (set EMBEDDED_PG_PORT to a free port)');
  });

  it('as root, says which account could not reach the data folder', () => {
    const lines = ['The files belonging to this database system will be owned by user "postgres".', 'initdb: error: could not access directory "/root/laterz/data/pg": Permission denied'];
    expect(startFailureCause(failure(lines, { program: 'initdb', account: 'postgres', pgDir: '/root/laterz/data/pg' }))).toBe(
      'could not access directory "/root/laterz/data/pg": Permission denied (as root, laterz runs PostgreSQL as the OS account "postgres", which must be able to enter every folder down to /root/laterz/data/pg)',
    );
  });

  it("otherwise gives the first fatal error, of the server's or of initdb's", () => {
    expect(startFailureCause(failure([`${at} LOG:  starting`, `${at} FATAL:  could not load library "x": boom`, `${at} FATAL:  later`]))).toBe(
      'could not load library "x": boom',
    );
    expect(startFailureCause(failure(['initdb: error: directory "/srv/laterz/pg" exists but is not empty'], { program: 'initdb' }))).toBe(
      'directory "/srv/laterz/pg" exists but is not empty',
    );
  });

  it('with nothing to go on, says how the program ended', () => {
    expect(startFailureCause(failure([], { ended: 'was killed by SIGKILL' }))).toBe('postgres was killed by SIGKILL');
  });
});

describe('EmbeddedPostgresStartError', () => {
  it('names the cause, how the program ended and quotes its last lines', () => {
    const lines = [`${at} FATAL:  lock file "postmaster.pid" already exists`, `${at} HINT:  Is another postmaster (PID 30927) running in data directory "/srv/laterz/pg"?`];
    expect(new EmbeddedPostgresStartError(failure(lines)).message).toBe(
      'embedded PostgreSQL did not start: its data folder /srv/laterz/pg is in use by another PostgreSQL server (pid 30927): stop that server, or set DATA_DIR to another folder.\n' +
        `postgres exited with code 1; its last lines:\n  ${lines[0]}\n  ${lines[1]}`,
    );
    expect(new EmbeddedPostgresStartError(failure([], { ended: 'could not be run: spawn /x/postgres EACCES' })).message).toBe(
      'embedded PostgreSQL did not start: postgres could not be run: spawn /x/postgres EACCES, printing nothing.',
    );
  });
});
