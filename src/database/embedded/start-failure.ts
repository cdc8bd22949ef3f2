/** What a failed start of the embedded server left to go on. */
export interface StartFailure {
  /** The program that failed: `initdb` or `postgres`. */
  program: string;
  /** How it ended: "exited with code 1", "was killed by SIGKILL", "could not be run: ...". */
  ended: string;
  /** Its last lines of output, oldest first. */
  lines: string[];
  port: number;
  pgDir: string;
  /** The OS account it ran as, when laterz (as root) switched to one. */
  account?: string;
}

/** A log line's message, without the server's timestamp, pid and level, or initdb's "initdb: error:". */
function message(line: string): string {
  return line.replace(/^.*?\b(LOG|FATAL|PANIC|ERROR|WARNING|HINT|DETAIL):\s+/, '').replace(/^\S+: error:\s+/, '');
}

/**
 * Why the server did not start, in words one can act on, read from its own last lines: the port
 * taken, the data folder used by another server, a folder the server's account cannot enter; else
 * its first fatal error, else how it ended.
 */
export function startFailureCause(failure: StartFailure): string {
  const { lines, port, pgDir, account } = failure;
  const text = lines.join('\n');
  const pid = /\(PID (\d+)\)/.exec(text)?.[1];
  if (/could not bind IPv[46] address .*Address already in use/.test(text)) {
    return `port ${port} on 127.0.0.1 is already in use (set EMBEDDED_PG_PORT to a free port)`;
  }
  if (/lock file "postmaster\.pid" already exists/.test(text)) {
    return `its data folder ${pgDir} is in use by another PostgreSQL server${pid ? ` (pid ${pid})` : ''}: stop that server, or set DATA_DIR to another folder`;
  }
  if (/lock file ".*\.s\.PGSQL\.\d+\.lock" already exists/.test(text)) {
    return `port ${port} is in use by another PostgreSQL server${pid ? ` (pid ${pid})` : ''} (set EMBEDDED_PG_PORT to a free port)`;
  }
  const denied = lines.find((l) => /Permission denied/.test(l));
  if (denied && account) {
    return `${message(denied)} (as root, laterz runs PostgreSQL as the OS account "${account}", which must be able to enter every folder down to ${pgDir})`;
  }
  const fatal = lines.find((l) => /\b(FATAL|PANIC):\s|: error:\s/.test(l));
  if (fatal) return message(fatal);
  return `${failure.program} ${failure.ended}`;
}

/** The embedded server did not start: names the cause and quotes the server's last lines. */
export class EmbeddedPostgresStartError extends Error {
  constructor(readonly failure: StartFailure) {
    const { program, ended, lines } = failure;
    super(
      lines.length > 0
        ? `embedded PostgreSQL did not start: ${startFailureCause(failure)}.\n${program} ${ended}; its last lines:\n  ${lines.join('\n  ')}`
        : `embedded PostgreSQL did not start: ${program} ${ended}, printing nothing.`,
    );
    this.name = 'EmbeddedPostgresStartError';
  }
}
