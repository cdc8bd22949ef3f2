import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { AppConfig } from '../../config/app-config.js';
import { HandlerExitCalled, HandlerUncaught } from './task-outcome.js';

/** A handler call in progress, as the guard sees it. */
export interface GuardedRun {
  /** Names the run in a log line: task id and func, never the args. */
  describe(): string;
  /** Fails the run with `err` (its tasks end `error`, a failed try); false once its outcome is settled. */
  fail(err: Error): boolean;
}

/** What a handler did that would have ended the process. */
export type HandlerEscape = 'exit' | 'uncaught' | 'rejection';

interface Entry {
  guard: HandlerGuard;
  run: GuardedRun;
}

type Exit = (code?: string | number | null) => never;

/** Name prefix of the async function each run's handler is awaited in (HANDLER_GUARD=exit). */
const RUN_FRAME = 'laterzGuardedRun_';

/**
 * The process's one hook, shared by the guards of every app in the process (tests run several):
 * process.exit and 'uncaughtException' belong to the process, so they are patched once, while at
 * least one guard is installed.
 */
const hook: {
  installs: number;
  exit?: Exit;
  patched?: Exit;
  /** The run whose handler is being called right now, synchronously. */
  current?: Entry;
  /** HANDLER_GUARD=exit: the run of each frame in use, by the number the frame is named after. */
  named: (Entry | undefined)[];
  /** Frames made so far (one per run at once, at most: a frame is reused once its run has settled). */
  frames: RunFrame[];
  /** Numbers of the frames not in use. */
  free: number[];
  /** HANDLER_GUARD=full: the running handler call of the current async context. */
  als: AsyncLocalStorage<Entry>;
} = { installs: 0, named: [], frames: [], free: [], als: new AsyncLocalStorage<Entry>() };

type RunFrame = <T>(call: () => T | Promise<T>) => Promise<T>;

/**
 * An async function named `${RUN_FRAME}${n}` that awaits its call (`return await`: the frame
 * stays in the chain), then frees itself for the next run.
 */
function makeFrame(n: number): RunFrame {
  const frame = async <T>(call: () => T | Promise<T>): Promise<T> => {
    try {
      return await call();
    } finally {
      hook.named[n] = undefined;
      hook.free.push(n);
    }
  };
  Object.defineProperty(frame, 'name', { value: `${RUN_FRAME}${n}` });
  return frame;
}

/**
 * The run the code running now belongs to: the handler called synchronously, else the async
 * context's (full), else the run frame awaiting this chain (exit: V8's async stack trace goes
 * through every `await`, and a `.then` chain the handler awaits, back to the run's frame).
 */
function attributed(): Entry | undefined {
  const entry = hook.current ?? hook.als.getStore();
  if (entry || hook.free.length === hook.frames.length) return entry;
  // The call sites themselves, not the formatted stack (which a source-map hook may rename).
  const { prepareStackTrace, stackTraceLimit } = Error;
  Error.prepareStackTrace = (_err, sites) => sites;
  Error.stackTraceLimit = Infinity;
  const at: { stack?: NodeJS.CallSite[] } = {};
  try {
    Error.captureStackTrace(at);
    for (const site of at.stack ?? []) {
      const name = site.getFunctionName();
      if (name?.startsWith(RUN_FRAME)) return hook.named[Number(name.slice(RUN_FRAME.length))];
    }
    return undefined;
  } finally {
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function guardedExit(code?: string | number | null): never {
  const entry = attributed();
  if (entry) {
    const err = new HandlerExitCalled(code);
    if (entry.guard.escaped('exit', entry.run, err)) throw err;
  }
  // Outside a handler (bootstrap, shutdown, Nest), or a handler's leftover after its run settled.
  return hook.exit!.call(process, code);
}

function onUncaught(err: unknown, origin: NodeJS.UncaughtExceptionOrigin): void {
  // Thrown by guardedExit, which has already failed its run and said so: a handler that called
  // process.exit from a timer, or from an async function nobody awaits.
  if (err instanceof HandlerExitCalled) return;
  // Only an async context (full) tells whose callback threw: a timer's stack has no run frame.
  const entry = hook.als.getStore();
  if (entry && entry.guard.escaped(origin === 'unhandledRejection' ? 'rejection' : 'uncaught', entry.run, new HandlerUncaught(origin, err))) return;
  // Not a running handler's: what Node does without the guard. With other listeners, they decide.
  if (process.listenerCount('uncaughtException') > 1) return;
  writeSync(2, `${inspect(err)}\n\nNode.js ${process.version}\n`);
  hook.exit!.call(process, 1);
}

function installHook(): void {
  if (hook.installs++ > 0) return;
  hook.exit = process.exit as Exit;
  hook.patched = guardedExit;
  process.exit = guardedExit;
  process.on('uncaughtException', onUncaught);
}

function removeHook(): void {
  if (hook.installs === 0 || --hook.installs > 0) return;
  process.off('uncaughtException', onUncaught);
  // Someone who patched process.exit after us keeps their patch (it calls ours, which then passes through).
  if (process.exit === hook.patched) process.exit = hook.exit!;
}

/** What `call` returns or throws, as a promise. */
function promised<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/** A log line's account of an escape: the error's type, not its message (which may quote the args). */
function summary(escape: HandlerEscape, err: Error): string {
  if (escape === 'exit') return err.message;
  const cause = err.cause;
  const type = cause instanceof Error ? cause.name : `a thrown ${cause === null ? 'null' : typeof cause}`;
  return `${escape === 'rejection' ? 'unhandled rejection' : 'uncaught exception'} in the handler (${type})`;
}

/**
 * Keeps a task handler from taking its process down, with every task running beside it
 * (HANDLER_GUARD). exit: process.exit called while a handler runs, synchronously or later in the
 * chain it awaits, throws HandlerExitCalled and fails that task. full: the handler call runs in an
 * AsyncLocalStorage context, so process.exit from anything the handler started (timers, callbacks)
 * is caught too, and an exception such a callback throws or a rejection the handler leaves
 * unhandled fails that task instead of crashing the process. What cannot be attributed to a
 * running handler behaves as without the guard. Installed in the roles that run handlers (worker:
 * the runner; scheduler: the bulk runner).
 */
@Injectable()
export class HandlerGuard implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(HandlerGuard.name);
  private readonly listeners: ((escape: HandlerEscape) => void)[] = [];
  private installed = false;

  constructor(private readonly config: AppConfig) {}

  onModuleInit(): void {
    if (this.config.has('worker') || this.config.has('scheduler')) this.install();
  }

  onApplicationShutdown(): void {
    this.uninstall();
  }

  install(): void {
    if (this.installed || this.config.handlerGuard === 'off') return;
    this.installed = true;
    installHook();
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    removeHook();
  }

  /**
   * Calls `call` as `run`: what it does that would end the process ends `run` instead. `call`
   * should return the handler's own promise, not one an async function made of it: V8's async
   * stack trace (HANDLER_GUARD=exit) follows `await`, and reaches through such a hop only once a
   * microtask has linked the two.
   */
  run<T>(run: GuardedRun, call: () => T | Promise<T>): Promise<T> {
    if (!this.installed) return promised(call);
    const entry: Entry = { guard: this, run };
    if (this.config.handlerGuard === 'full') return hook.als.run(entry, promised, call);
    // A frame of the run's own in every async stack trace of the handler's chain. Frames are
    // reused and found by index, and no async layer is added besides: a new named function per
    // task, a Map of runs and an async wrapper cost 0.8-1.4 µs a call; this about 0.1 µs.
    const n = hook.free.pop() ?? hook.frames.push(makeFrame(hook.frames.length)) - 1;
    hook.named[n] = entry;
    const outer = hook.current;
    hook.current = entry;
    try {
      const frame = hook.frames[n];
      return frame(call);
    } finally {
      hook.current = outer;
    }
  }

  /** Called for each escape a guarded handler made (the metrics count them). */
  onEscape(listener: (escape: HandlerEscape) => void): void {
    this.listeners.push(listener);
  }

  /** Fails `run` with `err` and says so; false when the run has already settled (nothing to fail). */
  escaped(escape: HandlerEscape, run: GuardedRun, err: Error): boolean {
    if (!this.installed || !run.fail(err)) return false;
    this.logger.warn(`${run.describe()}: ${summary(escape, err)}; the task fails, the process goes on`);
    for (const listener of this.listeners) listener(escape);
    return true;
  }
}
