import { ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Injectable, Type } from '@nestjs/common';
import { NO_ENV_FILE } from '../../src/config/env-file.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { waitFor } from './databases.js';
import { userSettings } from './scratch.js';

/** Repository root (jest runs with it as the working directory). */
export const ROOT = resolve(process.cwd());

/** A child process of the test with its output collected and its exit awaited. */
export interface ServiceProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
}

/** Environment variables of laterz and of the test run that a child must not inherit by accident. */
const STRIPPED = /^(PORT|ROLES|DATABASE_URL|DATA_DIR|EMBEDDED_PG_PORT|DB_.*|LOG_.*|SHUTDOWN_.*|AMQP_.*|WORKER_.*|TASK_.*|LATERZ_.*|ENV_FILE)$/;

/**
/**
 * Starts `node <script>` (from the repository root unless `cwd` says otherwise) with only the
 * given laterz variables (plus PATH, HOME and the like from this process). A developer's own
 * `.env` in the repository is not read (ENV_FILE=NO_ENV_FILE) unless `env` sets ENV_FILE. `tty`:
 * with a terminal as its stdout (through script(1); its output, stderr included, is in `stdout`).
 * `detached`: in a process group of its own, as a terminal runs a command (a Ctrl-C there is
 * `process.kill(-pid, 'SIGINT')` here). `args`: the script's arguments.
 */
export function startNode(
  script: string,
  env: Record<string, string>,
  options: { cwd?: string; tty?: boolean; detached?: boolean; args?: string[] } = {},
): ServiceProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !STRIPPED.test(k)));
  const args = options.args ?? [];
  const [command, argv] = options.tty ? ['script', ['-qfec', [process.execPath, script, ...args].join(' '), '/dev/null']] : [process.execPath, [script, ...args]];
  const child = spawn(command, argv, {
    cwd: options.cwd ?? ROOT,
    env: { ...base, ENV_FILE: NO_ENV_FILE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached,
  });
  let stdout = '';
  let stderr = '';
  let done = false;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | string>((res) =>
    child.once('exit', (code, signal) => {
      done = true;
      res(code ?? signal ?? -1);
    }),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    hasExited: () => done,
  };
}

/** Polls /health/ready until 200; fails with the service's output if it exits first. */
export async function ready(proc: ServiceProcess, port: number, timeoutMs = 45000): Promise<void> {
  await waitFor(
    async () => proc.hasExited() || (await fetch(`http://127.0.0.1:${port}/health/ready`, { headers: { connection: 'close' } })).status === 200,
    `/health/ready on :${port}`,
    timeoutMs,
  );
  if (proc.hasExited()) {
    throw new Error(`service exited (${await proc.exited}) before it was ready\n--- stderr\n${proc.stderr}\n--- stdout (tail)\n${proc.stdout.slice(-4000)}`);
  }
}

/**
 * A worker process of the built service (test/helpers/worker-process.mjs, with its test handlers)
 * on `databaseUrl` (a test database: the user's DB_SCHEMA): quiet JSON logs, a short idle poll;
 * `env` adds or overrides variables.
 */
export function startWorkerProcess(databaseUrl: string, env: Record<string, string> = {}): ServiceProcess {
  return startNode('test/helpers/worker-process.mjs', {
    DATABASE_URL: databaseUrl,
    DB_SCHEMA: userSettings.dbSchema,
    ROLES: 'worker',
    PORT: '0',
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    WORKER_POLL_MS: '200',
    ...env,
  });
}

/**
 * A provider that declares the funcs `names` on the test's own side (enqueueing needs them
 * registered) for tasks that only the worker process of startWorkerProcess runs: each handler
 * here throws, so a task run on this side by mistake fails loudly.
 */
export function workerProcessFuncs(...names: string[]): Type {
  @Injectable()
  class WorkerProcessFuncs {}
  names.forEach((name, i) => {
    const descriptor: PropertyDescriptor = {
      value: () => {
        throw new Error(`${name} runs only in the worker process`);
      },
    };
    TaskHandler(name)(WorkerProcessFuncs.prototype, `func${i}`, descriptor);
    Object.defineProperty(WorkerProcessFuncs.prototype, `func${i}`, descriptor);
  });
  return WorkerProcessFuncs;
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => res(port));
    });
  });
}

/** Pids of processes whose command line contains `pattern` (pgrep -f); none is an empty list. */
export function pgrep(pattern: string): Promise<number[]> {
  return new Promise((res, rej) =>
    execFile('pgrep', ['-f', pattern], (err, stdout) => {
      if (err && (err as { code?: unknown }).code === 1) return res([]);
      if (err) return rej(err);
      res(
        stdout
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map(Number),
      );
    }),
  );
}

/**
 * Removes a data folder a test's service used, after ending (by pid, SIGKILL) any process still
 * running on it: a failed run may leave the embedded server it started.
 */
export async function removeDataDir(dir: string): Promise<void> {
  for (const pid of await pgrep(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Ends a child this test started (by its pid) if it is still running, and waits for it. */
export async function stopIfRunning(proc: ServiceProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!proc || proc.hasExited()) return;
  proc.child.kill(signal);
  await proc.exited;
}
