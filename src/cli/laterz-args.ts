/** What `laterz …` was asked to do. */
export type LaterzCommand =
  | { kind: 'start'; handlers: string[] }
  | { kind: 'migrate' }
  | { kind: 'help' }
  | { kind: 'version' }
  /** A command line that means nothing: the message, then the usage on stderr, exit 2. */
  | { kind: 'usage-error'; message: string };

/** Exit codes: `EXIT.usage` for a command line that means nothing (as getopt-style tools do). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export const USAGE = `Usage: laterz <command> [options]

Commands:
  start     run the laterz service: the roles of ROLES (default api,worker,scheduler), the admin
            API, the engine's migrations applied first; with your handlers modules
  migrate   apply the engine's migrations to the database and exit
  help      show this text

Options of start:
  --handlers <file.js>  a compiled ES module (path relative to the working directory) whose
                        default export, or else whose named exports, are Nest modules holding
                        your @TaskHandler providers; repeat it (or comma-separate) for more.
                        Without it: LATERZ_HANDLERS (comma-separated). None: the engine alone.
Options:
  -h, --help            show this text
  -v, --version         show laterz's version

Settings come from the environment and a .env file in the working directory: DATABASE_URL
(unset: an embedded PostgreSQL under DATA_DIR), AMQP_URL, ROLES, PORT, ADMIN_TOKENS, … (the
configuration table of laterz's docs/configuration.md).

Exit status: 0 done (start: stopped by SIGINT or SIGTERM), 1 failed (a bad setting, a handlers
file, the database), 2 a bad command line.`;

const COMMANDS = ['start', 'migrate', 'help'] as const;

/** Reads `laterz`'s arguments (process.argv without node and the script). Never throws: a bad line is a usage-error. */
export function parseLaterzArgs(argv: readonly string[]): LaterzCommand {
  if (argv.some((a) => a === '-h' || a === '--help')) return { kind: 'help' };
  if (argv.some((a) => a === '-v' || a === '--version')) return { kind: 'version' };
  const [command, ...rest] = argv;
  if (command === undefined) return { kind: 'usage-error', message: 'no command given' };
  if (command.startsWith('-')) return { kind: 'usage-error', message: `unknown option '${command}'` };
  if (!(COMMANDS as readonly string[]).includes(command)) return { kind: 'usage-error', message: `unknown command '${command}'` };

  const handlers: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const inline = /^--handlers=(.*)$/s.exec(arg);
    if (arg === '--handlers' || inline) {
      if (command !== 'start') return { kind: 'usage-error', message: `'--handlers' is an option of start, not of ${command}` };
      const value = inline ? inline[1] : rest[++i];
      if (!inline && value?.startsWith('-')) return { kind: 'usage-error', message: `'--handlers' needs a file, not '${value}': --handlers <file.js>` };
      const paths = (value ?? '').split(',').map((p) => p.trim()).filter((p) => p.length > 0);
      if (paths.length === 0) return { kind: 'usage-error', message: "'--handlers' needs a file: --handlers <file.js>" };
      handlers.push(...paths);
    } else if (arg.startsWith('-')) {
      return { kind: 'usage-error', message: `unknown option '${arg}'` };
    } else {
      return { kind: 'usage-error', message: `unexpected argument '${arg}'` };
    }
  }
  if (command === 'start') return { kind: 'start', handlers };
  return command === 'migrate' ? { kind: 'migrate' } : { kind: 'help' };
}
