import { canonicalJson } from '../../tasks/canonical-json.js';
import { RetryLater } from '../../tasks/retry-policy.js';
import { BrokenReason, TaskStatus } from '../../tasks/task-status.js';
import { ExtraDependency, MissingDependency, TaskBroken, TaskError } from '../../tasks/tasks.errors.js';

/** Why a run was aborted through its signal. */
export class TaskTimeout extends Error {
  constructor(readonly ms: number) {
    super(`timed out after ${ms / 1000}s`);
    this.name = 'TaskTimeout';
  }
}
export class TaskCancelled extends Error {
  constructor() {
    super('cancelled by an operator');
    this.name = 'TaskCancelled';
  }
}
/** The worker gave the task up (shutdown, lost session): it writes nothing, someone else finishes it. */
export class TaskAbandoned extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TaskAbandoned';
  }
}

/**
 * A handler called process.exit: the handler guard made the call throw this instead of ending
 * the process, and the task fails (a failed try, retried like any error).
 */
export class HandlerExitCalled extends Error {
  constructor(readonly code: string | number | null | undefined) {
    super(`handler called process.exit(${code === undefined ? '' : typeof code === 'string' ? JSON.stringify(code) : String(code)})`);
    this.name = 'HandlerExitCalled';
  }
}

/**
 * An error a handler's own callback threw outside its promise chain (a timer it set), or a
 * rejection it left unhandled: the handler guard fails the task with it instead of the process.
 */
export class HandlerUncaught extends Error {
  constructor(origin: NodeJS.UncaughtExceptionOrigin, cause: unknown) {
    super(`${origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception'} in the handler: ${describe(cause)}`, { cause });
    this.name = 'HandlerUncaught';
    // The trace worth keeping is where the handler threw, not where the guard caught it.
    if (cause instanceof Error && cause.stack) this.stack = `${this.name}: ${this.message}\n${cause.stack}`;
  }
}

export type Outcome =
  /** `thrown`: what the handler threw, for the retry policy's decision (retryOn classes, RetryLater). */
  | { kind: 'final'; status: TaskStatus; result: string | null; error: string; reason: string; trace: string; thrown?: unknown }
  | { kind: 'missing'; dependency: string; prevId: string }
  | { kind: 'extra'; dependency: string }
  | { kind: 'abandon'; why: string };

const TRACE_BYTES = 2048;
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Network trouble, not the task's fault: it goes back to pending without counting as a failure. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return CONNECTION_CODES.has(code) || code.startsWith('08') || code === '57P01';
}

/** A handler's return value becomes the result: it must be JSON and within the size limit. */
export function successOutcome(value: unknown, maxBytes: number): Outcome {
  let json: string;
  try {
    json = canonicalJson(value === undefined ? null : value);
  } catch (err) {
    return final(TaskStatus.Broken, BrokenReason.InvalidResult, `the handler returned a value that is not JSON: ${(err as Error).message}`);
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) {
    return final(TaskStatus.Broken, BrokenReason.ResultTooLarge, `result is ${bytes} bytes of JSON, over the limit of ${maxBytes} (TASK_RESULT_MAX_BYTES)`);
  }
  return { kind: 'final', status: TaskStatus.Success, result: json, error: '', reason: '', trace: '' };
}

/** Maps what a run threw (or why it was aborted) to the task's next state. */
export function failureOutcome(err: unknown, signal: Pick<AbortSignal, 'aborted' | 'reason'>): Outcome {
  const reason: unknown = signal.aborted ? signal.reason : undefined;
  if (reason instanceof TaskAbandoned) return { kind: 'abandon', why: reason.message };
  if (reason instanceof TaskTimeout) return final(TaskStatus.Broken, BrokenReason.Timeout, reason.message);
  if (reason instanceof TaskCancelled) return final(TaskStatus.Broken, BrokenReason.Cancelled, reason.message);
  if (err instanceof MissingDependency) return { kind: 'missing', dependency: err.dependency, prevId: err.prevId };
  if (err instanceof ExtraDependency) return { kind: 'extra', dependency: err.dependency };
  const trace = traceOf(err);
  if (err instanceof TaskBroken) return final(TaskStatus.Broken, err.reason, err.message, trace, err);
  if (err instanceof TaskError) {
    const details = err.details === undefined ? '' : ` (${safeJson(err.details)})`;
    return final(TaskStatus.Error, '', `${err.message}${details}`, trace, err);
  }
  if (err instanceof RetryLater) return final(TaskStatus.Error, '', `${err.message} (in ${err.delayMs / 1000}s)`, trace, err);
  if (isConnectionError(err)) return final(TaskStatus.Pending, '', describe(err), trace);
  return final(TaskStatus.Error, '', describe(err), trace, err);
}

function final(status: TaskStatus, reason: string, error: string, trace = error, thrown?: unknown): Outcome {
  const outcome: Outcome = { kind: 'final', status, result: null, error, reason, trace: trace.slice(0, TRACE_BYTES) };
  if (thrown !== undefined) outcome.thrown = thrown;
  return outcome;
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `thrown value: ${safeJson(err)}`;
}

function traceOf(err: unknown): string {
  return (err instanceof Error ? (err.stack ?? describe(err)) : describe(err)).slice(0, TRACE_BYTES);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return String(value);
  }
}
