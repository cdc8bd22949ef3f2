import { Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { TIERS_RETRY } from '../../src/tasks/retry-policy.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { ExecutionLog } from './execution-log.js';

/** The funcs of the chaos suite: one normal func and three kinds of poison. */
export const CHAOS_FUNCS = {
  work: 'chaos.work',
  exit: 'chaos.poison.exit',
  throw: 'chaos.poison.throw',
  hang: 'chaos.poison.hang',
} as const;
export type ChaosFunc = (typeof CHAOS_FUNCS)[keyof typeof CHAOS_FUNCS];

/**
 * Exit code of a worker that a `chaos.poison.exit` task brought down (the harness tells it from a
 * crash). With the worker's handler guard the call throws instead, and no worker goes down.
 */
export const POISON_EXIT_CODE = 86;

/** What a successful `chaos.work` returns: which attempt wrote the result, from which process. */
export interface WorkResult {
  a: number;
  p: number;
}

// Read once at load: decorator options are fixed when the class is defined.
const HANG_TIMEOUT_MS = Number(process.env.CHAOS_HANG_TIMEOUT_MS ?? 1000);

/**
 * The checker funcs. Every run is recorded (ExecutionLog) before the handler does anything and
 * again when it stops; a handler honours its AbortSignal, as the engine asks of handlers, so a run
 * the engine gives up (timeout, lost session, shutdown hand-back) really stops.
 */
@Injectable()
export class ChaosHandlers implements OnApplicationShutdown {
  constructor(private readonly log: ExecutionLog) {}

  @TaskHandler(CHAOS_FUNCS.work, { retry: TIERS_RETRY, timeout: '10m' })
  async work(args: { i: number; ms: number }, _deps: unknown, ctx: TaskContext): Promise<WorkResult> {
    const x = this.log.start(ctx);
    try {
      await sleep(args.ms, undefined, { signal: ctx.signal });
    } catch (err) {
      this.log.end(x, 'aborted');
      throw err;
    }
    this.log.end(x, 'ok');
    return { a: ctx.attempt, p: process.pid };
  }

  @TaskHandler(CHAOS_FUNCS.exit, { retry: TIERS_RETRY })
  exit(_args: unknown, _deps: unknown, ctx: TaskContext): never {
    const x = this.log.start(ctx);
    try {
      process.exit(POISON_EXIT_CODE);
    } finally {
      // Reached only when the worker's handler guard made process.exit throw (the task fails, the
      // process goes on); a real exit ends the process here, and its exit ends the execution.
      this.log.end(x, 'exit-called');
    }
  }

  @TaskHandler(CHAOS_FUNCS.throw, { retry: TIERS_RETRY })
  throw(_args: unknown, _deps: unknown, ctx: TaskContext): never {
    const x = this.log.start(ctx);
    this.log.end(x, 'threw');
    throw new Error(`poison: always throws (attempt ${ctx.attempt})`);
  }

  @TaskHandler(CHAOS_FUNCS.hang, { retry: TIERS_RETRY, timeout: HANG_TIMEOUT_MS })
  async hang(_args: unknown, _deps: unknown, ctx: TaskContext): Promise<never> {
    const x = this.log.start(ctx);
    try {
      // Waits for something that never comes; only the timeout (or a shutdown) ends it.
      await new Promise<never>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true }));
    } finally {
      this.log.end(x, 'aborted');
    }
    throw new Error('unreachable');
  }

  onApplicationShutdown(): void {
    this.log.close();
  }
}

/** Imported into every process of a chaos run (workers and schedulers: the dispatcher must know the funcs). */
@Module({
  providers: [{ provide: ExecutionLog, useFactory: () => new ExecutionLog(process.env.CHAOS_RECORD_DIR) }, ChaosHandlers],
})
export class ChaosHandlersModule {}
