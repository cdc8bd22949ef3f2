import type { TaskContext, BulkContext, BulkTask } from './task-context.js';
import type { RetryPolicy } from './retry-policy.js';
import type { TaskId } from './task-status.js';

export const TASK_HANDLER_METADATA = 'laterz:task-handler';

/** Where a handler runs: the worker's event loop, a pooled worker thread, a pooled child process. */
export const ISOLATIONS = ['inline', 'thread', 'process'] as const;
export type Isolation = (typeof ISOLATIONS)[number];

export interface TaskHandlerOptions {
  /** Bump when the code changes: results of older versions are re-run. Default 0. */
  version?: number;
  /** Queue group; the broker queue is `<prefix>.<queue>.<func>`. Default `default`. */
  queue?: string;
  /** Run by the bulk runner on batches instead of one by one. */
  bulk?: boolean;
  /** Longest run: milliseconds, or a string like `90s`, `10m`, `2h`; then its signal is aborted (the soft timeout). Default TASK_DEFAULT_TIMEOUT_SECONDS. */
  timeout?: number | string;
  /**
   * Where the handler runs: `inline` (the worker's event loop), `thread` (a pooled worker thread)
   * or `process` (a pooled child process). Default WORKER_ISOLATION. Isolated handlers are booted
   * from the handlers files (LaterzModule's `handlers`, `laterz start --handlers`).
   */
  isolation?: Isolation;
  /**
   * Isolated only: when the handler is ended by force if it has not returned (milliseconds from
   * its start, or `2m`): at least `timeout`. Default `timeout` + ISOLATE_KILL_GRACE_SECONDS.
   */
  hardTimeout?: number | string;
  /** Isolated only: heap limit of its thread or child, MiB; above it the task is broken (out_of_memory). Default ISOLATE_MEMORY_LIMIT_MB. */
  memoryLimit?: number;
  /** Priority of its tasks (0-9, higher first). Default 0. */
  priority?: number;
  /** Re-run successful tasks older than this in `sync` collections (milliseconds or `10m`). */
  resync?: number | string;
  /** Let its args appear in logs (they are redacted by default). */
  logArgs?: boolean;
  /** Run it periodically: `{ cron, tz }` or `{ every }` (a schedule named after the func; docs/funcs.md). */
  schedule?: HandlerSchedule;
  /** Tasks not started this long after their enqueue end `broken` / `expired` (milliseconds or `10m`); enqueue's expireIn/expiresAt override it. */
  expireIn?: number | string;
  /** At most this many of its tasks wait (pending, queued, deferred); an enqueue past it throws QueueFull. */
  maxQueued?: number;
  /**
   * When a failed attempt runs again (docs/funcs.md, "Retries"); `false`: never. Default 3 attempts,
   * exponential backoff from 1 s (factor 2, jitter 0.2, at most 1 h), every error and the broken
   * reasons `task_killed` and `timeout` retried; a handler's `TaskBroken` is permanent.
   */
  retry?: RetryPolicy | false;
}

/** When and how a handler's tasks run periodically (`@TaskHandler(name, { schedule })`): `cron` (and `tz`) or `every`. */
export interface HandlerSchedule {
  /** A cron expression: 5 fields, or 6 with seconds first (`*\/10 * * * * *`). */
  cron?: string;
  /** The cron's IANA time zone (`Europe/Paris`). Default UTC. */
  tz?: string;
  /** Every N milliseconds, or a duration like `30s`, `5m`: slots at whole multiples since the epoch. */
  every?: number | string;
  /** The args of each run (a JSON object; the slot is added as `slot`). Default `{}`. */
  args?: Record<string, unknown>;
  /** Default `default`. */
  collection?: string;
  /** Slots missed while no scheduler ran: `once` (one run for all of them, the default) or `skip`. */
  missed?: 'once' | 'skip';
}


export interface TaskHandlerMetadata extends TaskHandlerOptions {
  name: string;
}

/** A handler of one task: `(args, deps, ctx)`; deps maps dependency names to parent results. */
export type TaskHandlerFn = (args: never, deps: Record<string, unknown>, ctx: TaskContext) => unknown;
/** A bulk handler: gets a batch, returns which tasks succeeded. */
export type BulkHandlerFn = (batch: BulkTask[], ctx: BulkContext) => Promise<Map<TaskId, boolean>> | Map<TaskId, boolean>;

/** Marks a provider method as the handler of the task func `name`. */
export function TaskHandler(name: string, options: TaskHandlerOptions = {}): MethodDecorator {
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(TASK_HANDLER_METADATA, { ...options, name } satisfies TaskHandlerMetadata, descriptor.value as object);
    return descriptor;
  };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `90s`, `10m`, `2h`, `1d` or a number of milliseconds. */
export function parseDuration(value: number | string, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value.trim()) : null;
  if (!m) throw new TypeError(`${what} must be a positive number of milliseconds or a duration like 90s, 10m, 2h (got ${JSON.stringify(value)})`);
  return Number(m[1]) * UNITS[m[2]];
}
