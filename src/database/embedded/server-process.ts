import { ChildProcess, spawn } from 'node:child_process';
import type { OsAccount } from './os-account.js';
import { EmbeddedPostgresStartError, StartFailure } from './start-failure.js';

/** Lines of output kept for an error message. */
const TAIL_LINES = 20;
const READY = 'database system is ready to accept connections';

export interface ProgramOptions {
  /** Run as this account (laterz is root); undefined: as this process's user. */
  account?: OsAccount;
  onLog: (line: string) => void;
  /** For error messages: the server's port and data folder. */
  port: number;
  pgDir: string;
  /** Longest wait for the server to accept connections, then it is killed. Default 60 s (a first start after initdb takes about 1 s here). */
  readyTimeoutMs?: number;
  /** Longest wait for each shutdown step (fast, then immediate) before the next; then SIGKILL. Default 30 s. */
  stopStepMs?: number;
}

type Stream = 'stdout' | 'stderr';

/** A started program's output (both streams), line by line, with its last lines kept. */
class Output {
  readonly tail: string[] = [];
  /** Each stream's unfinished last line. */
  private readonly partial: Record<Stream, string> = { stdout: '', stderr: '' };

  constructor(private readonly onLine: (line: string) => void) {}

  write(stream: Stream, text: string): void {
    const lines = (this.partial[stream] + text).split('\n');
    this.partial[stream] = lines.pop()!;
    for (const line of lines) this.line(line);
  }

  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.line(this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  private line(raw: string): void {
    const line = raw.trimEnd();
    if (!line) return;
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    this.onLine(line);
  }
}

/** How a program ended: `ok` for exit code 0; `how` in words ("exited with code 1", "was killed by SIGKILL"). */
interface Ending {
  ok: boolean;
  how: string;
}

interface Started {
  child: ChildProcess;
  output: Output;
  /** Resolves once the program has ended (and its output has been read to the end). */
  ended: Promise<Ending>;
}

function start(binary: string, args: string[], options: ProgramOptions, detached: boolean, onLine: (line: string) => void = () => undefined): Started {
  const output = new Output((line) => {
    options.onLog(line);
    onLine(line);
  });
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached, uid: options.account?.uid, gid: options.account?.gid });
  child.stdout!.setEncoding('utf8').on('data', (text: string) => output.write('stdout', text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => output.write('stderr', text));
  const ended = new Promise<Ending>((resolve) => {
    child.once('error', (err) => resolve({ ok: false, how: `could not be run: ${err.message}` }));
    // 'close': the output has been read to its end too.
    child.once('close', (code, signal) => {
      output.end();
      resolve({ ok: code === 0, how: signal ? `was killed by ${signal}` : `exited with code ${code}` });
    });
  });
  return { child, output, ended };
}

function failure(program: string, ending: Ending, output: Output, options: ProgramOptions): StartFailure {
  return { program, ended: ending.how, lines: [...output.tail], port: options.port, pgDir: options.pgDir, account: options.account?.name };
}

/** Runs initdb (or another one-shot program) to its end; rejects naming the cause when it fails. */
export async function runToEnd(program: string, binary: string, args: string[], options: ProgramOptions): Promise<void> {
  const { output, ended } = start(binary, args, options, false);
  const ending = await ended;
  if (!ending.ok) throw new EmbeddedPostgresStartError(failure(program, ending, output, options));
}

type ServerState = 'starting' | 'ready' | 'stopping' | 'exited';

/**
 * The `postgres` server, in a session of its own (setsid): the signals of laterz's terminal (a
 * Ctrl-C goes to its whole process group) reach laterz only, which finishes its work and then
 * stops the server itself. Should laterz exit without stopping it, the server is told to stop too.
 */
export class ServerProcess {
  private state: ServerState = 'starting';
  private readonly stopOnExit = () => this.started.child.kill('SIGINT');

  private constructor(
    private readonly started: Started,
    private readonly stopStepMs: number,
  ) {
    process.on('exit', this.stopOnExit);
    void started.ended.then(() => {
      this.state = 'exited';
      process.removeListener('exit', this.stopOnExit);
    });
  }

  /** Starts the server and resolves once it accepts connections; rejects naming the cause if it ends first. */
  static async start(binary: string, args: string[], options: ProgramOptions): Promise<ServerProcess> {
    let ready!: () => void;
    const accepting = new Promise<void>((resolve) => (ready = resolve));
    const started = start(binary, args, options, true, (line) => {
      if (line.includes(READY)) ready();
    });
    const server = new ServerProcess(started, options.stopStepMs ?? 30_000);
    const timeoutMs = options.readyTimeoutMs ?? 60_000;
    const timedOut = Symbol('timed out');
    const first = await within(Promise.race([accepting.then(() => undefined), started.ended]), timeoutMs, timedOut);
    if (first === timedOut) {
      await server.stop();
      const ending = { ok: false, how: `did not accept connections within ${timeoutMs / 1000} s and was stopped` };
      throw new EmbeddedPostgresStartError(failure('postgres', ending, started.output, options));
    }
    if (first !== undefined) throw new EmbeddedPostgresStartError(failure('postgres', first, started.output, options));
    server.state = 'ready';
    return server;
  }

  /**
   * Fast shutdown (SIGINT: running sessions are ended, the data is checkpointed); if the server is
   * still there after a step's wait, immediate shutdown (SIGQUIT: recovery at the next start), then
   * SIGKILL. Resolves once it has exited.
   */
  async stop(): Promise<void> {
    if (this.state === 'exited') return;
    this.state = 'stopping';
    const gone = Symbol('exited');
    for (const signal of ['SIGINT', 'SIGQUIT'] as const) {
      this.started.child.kill(signal);
      if ((await within(this.started.ended.then(() => gone), this.stopStepMs, undefined)) === gone) return;
    }
    this.started.child.kill('SIGKILL');
    await this.started.ended;
  }
}

/** `promise`'s value, or `otherwise` once `ms` have passed (the timer never holds the process open). */
async function within<T, U>(promise: Promise<T>, ms: number, otherwise: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(otherwise), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
