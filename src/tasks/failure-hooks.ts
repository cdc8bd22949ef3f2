import { Logger } from '@nestjs/common';
import { BrokenReason, TaskStatus } from './task-status.js';

export const ON_TASK_FAILURE_METADATA = 'laterz:on-task-failure';

/** What a failure hook gets: a task that failed for good (see failsForGood). */
export interface TaskFailure {
  taskId: string;
  collection: string;
  func: string;
  /** The attempt that failed (1 for the first run). */
  attempt: number;
  /** `broken` or `error`, with no retry left (by its retry policy; bulk funcs: RETRY_TIERS). */
  status: TaskStatus.Broken | TaskStatus.Error;
  /** The broken reason (`timeout`, a handler's TaskBroken reason, …); empty for an error. */
  reason: string;
  /** The error's message. */
  error: string;
  /** Failed attempts so far, this one included. */
  failCount: number;
}

export type TaskFailureHook = (failure: TaskFailure) => unknown;

/**
 * Marks a provider method to be called when a task fails for good (a reporter such as Sentry):
 * `@OnTaskFailure() report(failure: TaskFailure) { … }`. It runs after the failure is written, off
 * the worker's path; whatever it throws (or rejects with) is logged and changes nothing.
 */
export function OnTaskFailure(): MethodDecorator {
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(ON_TASK_FAILURE_METADATA, true, descriptor.value as object);
    return descriptor;
  };
}

/**
 * How a failed run's retry was decided: by its retry policy, `retryInMs` being the retry time its
 * finish wrote (null: none), or, for bulk funcs, by RETRY_TIERS (the dispatcher's tiers).
 */
export type RetryDecision = { retryInMs: number | null } | { tiers: readonly { failLimit: number }[] };

/**
 * Whether a failed run is the task's last (its hooks run): the one place that decides it. Under a
 * retry policy: `broken` or `error` whose finish wrote no retry (not retried by its policy, or no
 * attempt left). Under the tiers (bulk funcs): `broken`, or `error` once no tier applies any more
 * (fail_count at or past the last tier's limit).
 */
export function failsForGood(outcome: { status: string; failCount: number }, retry: RetryDecision): boolean {
  if (outcome.status !== TaskStatus.Broken && outcome.status !== TaskStatus.Error) return false;
  if ('retryInMs' in retry) return retry.retryInMs === null;
  if (outcome.status === TaskStatus.Broken) return true;
  const lastLimit = retry.tiers.reduce((max, t) => Math.max(max, t.failLimit), 0);
  return outcome.failCount >= lastLimit;
}

/** The error an expired task is written with (the claim's and the expiry sweep's statements write this text). */
export const EXPIRED_ERROR = 'not started by its deadline (expiresAt)';

/** An expired task's failure: final whatever its policy (a retry would be past its deadline too). */
export function expiredFailure(row: { id: string; collection: string; func: string; attempt: number; fail_count: number }): TaskFailure {
  return { taskId: row.id, collection: row.collection, func: row.func, attempt: row.attempt, status: TaskStatus.Broken, reason: BrokenReason.Expired, error: EXPIRED_ERROR, failCount: row.fail_count };
}

/** The @OnTaskFailure methods of the app, found at boot by the registry; `report` runs them, never throwing. */
export class FailureHooks {
  private readonly logger = new Logger('FailureHooks');
  private readonly hooks: { owner: string; run: TaskFailureHook }[] = [];

  add(owner: string, run: TaskFailureHook): void {
    this.hooks.push({ owner, run });
  }

  get size(): number {
    return this.hooks.length;
  }

  /** Calls every hook with every failure; resolves when all have settled (their failures logged). */
  async report(failures: readonly TaskFailure[]): Promise<void> {
    if (this.hooks.length === 0 || failures.length === 0) return;
    await Promise.all(
      failures.flatMap((f) =>
        this.hooks.map(async (h) => {
          try {
            await h.run(f);
          } catch (err) {
            this.logger.warn(`failure hook ${h.owner} failed for task ${f.taskId} (${f.func}): ${err instanceof Error ? err.message : String(err)}`);
          }
        }),
      ),
    );
  }
}
