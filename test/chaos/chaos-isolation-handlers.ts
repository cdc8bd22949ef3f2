import { Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { TIERS_RETRY } from '../../src/tasks/retry-policy.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { ExecutionLog } from './execution-log.js';

/** The chaos runs' tiers, and the isolates' own ends retried too: a poison task is final after its five tries. */
const POISON_RETRY = { ...TIERS_RETRY, retryBroken: ['task_killed', 'timeout', 'out_of_memory', 'handler_crashed', 'handler_exited'] };

/**
 * The funcs of the isolation scenarios (issue 17): handlers deaf to their signal that outlive their
 * timeout, inline and isolated, and poison that only an isolate survives (a segfault, running out
 * of memory, process.exit in a thread or a child). Imported by the worker processes of those
 * scenarios only (CHAOS_ISOLATION), and booted by their isolates from the compiled file
 * (LATERZ_HANDLERS), so the other scenarios' workers start no isolate.
 */
export const CHAOS_ISOLATION_FUNCS = {
  deafInline: 'chaos.deaf.inline',
  deafThread: 'chaos.deaf.thread',
  deafProcess: 'chaos.deaf.process',
  segv: 'chaos.iso.segv',
  oomThread: 'chaos.iso.oom-thread',
  oomProcess: 'chaos.iso.oom-process',
  exitThread: 'chaos.iso.exit-thread',
  exitProcess: 'chaos.iso.exit-process',
} as const;

// Read once at load (in the worker and in each isolate: the same environment).
const DEAF_TIMEOUT_MS = Number(process.env.CHAOS_HANG_TIMEOUT_MS ?? 1000);
/** An isolated deaf handler still running this long after it started is ended by force. */
const DEAF_HARD_TIMEOUT_MS = Math.round(DEAF_TIMEOUT_MS * 1.5);
/** Deaf tasks ignore their signal on these first attempts, then return at once. */
export const DEAF_ATTEMPTS = 2;

/** Heap limits of the out-of-memory poison, MiB: a thread's old generation, a child's --max-old-space-size. */
const OOM_THREAD_MB = 64;
const OOM_PROCESS_MB = 96;

@Injectable()
export class ChaosIsolationHandlers implements OnApplicationShutdown {
  constructor(private readonly log: ExecutionLog) {}

  @TaskHandler(CHAOS_ISOLATION_FUNCS.deafInline, { retry: TIERS_RETRY, isolation: 'inline', timeout: DEAF_TIMEOUT_MS })
  deafInline(args: { ms: number }, _deps: unknown, ctx: TaskContext): Promise<{ a: number }> {
    return this.deaf(args, ctx);
  }

  @TaskHandler(CHAOS_ISOLATION_FUNCS.deafThread, { retry: TIERS_RETRY, isolation: 'thread', timeout: DEAF_TIMEOUT_MS, hardTimeout: DEAF_HARD_TIMEOUT_MS })
  deafThread(args: { ms: number }, _deps: unknown, ctx: TaskContext): Promise<{ a: number }> {
    return this.deaf(args, ctx);
  }

  @TaskHandler(CHAOS_ISOLATION_FUNCS.deafProcess, { retry: TIERS_RETRY, isolation: 'process', timeout: DEAF_TIMEOUT_MS, hardTimeout: DEAF_HARD_TIMEOUT_MS })
  deafProcess(args: { ms: number }, _deps: unknown, ctx: TaskContext): Promise<{ a: number }> {
    return this.deaf(args, ctx);
  }

  @TaskHandler(CHAOS_ISOLATION_FUNCS.segv, { retry: POISON_RETRY, isolation: 'process' })
  segv(_args: unknown, _deps: unknown, ctx: TaskContext): Promise<never> {
    this.log.start(ctx);
    process.kill(process.pid, 'SIGSEGV');
    return new Promise<never>(() => undefined);
  }

  @TaskHandler(CHAOS_ISOLATION_FUNCS.oomThread, { retry: POISON_RETRY, isolation: 'thread', memoryLimit: OOM_THREAD_MB })
  oomThread(_args: unknown, _deps: unknown, ctx: TaskContext): never {
    this.log.start(ctx);
    return hoard();
  }

  @TaskHandler(CHAOS_ISOLATION_FUNCS.oomProcess, { retry: POISON_RETRY, isolation: 'process', memoryLimit: OOM_PROCESS_MB })
  oomProcess(_args: unknown, _deps: unknown, ctx: TaskContext): never {
    this.log.start(ctx);
    return hoard();
  }

  @TaskHandler(CHAOS_ISOLATION_FUNCS.exitThread, { retry: POISON_RETRY, isolation: 'thread' })
  exitThread(_args: unknown, _deps: unknown, ctx: TaskContext): never {
    this.log.start(ctx);
    process.exit(86);
  }

  @TaskHandler(CHAOS_ISOLATION_FUNCS.exitProcess, { retry: POISON_RETRY, isolation: 'process' })
  exitProcess(_args: unknown, _deps: unknown, ctx: TaskContext): never {
    this.log.start(ctx);
    process.exit(86);
  }

  /**
   * Sleeps `ms` (longer than the timeout) without looking at its signal on its first attempts;
   * an isolated one may be ended by force meanwhile (its hard timeout), an inline one keeps its
   * slot and its lock until it returns. Later attempts return at once.
   */
  private async deaf(args: { ms: number }, ctx: TaskContext): Promise<{ a: number }> {
    const x = this.log.start(ctx);
    if (ctx.attempt <= DEAF_ATTEMPTS) await sleep(args.ms);
    this.log.end(x, 'ok');
    return { a: ctx.attempt };
  }

  onApplicationShutdown(): void {
    this.log.close();
  }
}

/** Allocates until the heap limit ends the isolate. */
function hoard(): never {
  const kept: unknown[] = [];
  for (;;) kept.push(new Array(1_000_000).fill({ n: kept.length }));
}

@Module({
  providers: [{ provide: ExecutionLog, useFactory: () => new ExecutionLog(process.env.CHAOS_RECORD_DIR) }, ChaosIsolationHandlers],
})
export class ChaosIsolationHandlersModule {}
