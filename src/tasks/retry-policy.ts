import { parseDuration } from './task-handler.decorator.js';

/*
 * Retry policies: a func's (the @TaskHandler `retry` option), overridable per task at enqueue
 * (`EnqueueOptions.retryPolicy`, stored in the task's row, so whichever worker runs it applies it).
 * The decision after a failed attempt is `retryDelay`, a pure function: the worker calls it at the
 * finish, the dispatcher for a task it declares dead. A retry is the failed row with `run_after` set
 * to its due time; the due scan (maintenance/due) queues it then.
 */

/** A class of errors a policy retries (matched with instanceof in the worker that ran the attempt). */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** The wait before the next attempt. `attempt` is the failure count so far (1 after the first failure). */
export type BackoffFunction = (attempt: number, error: unknown) => number;

/** Backoffs that can be written down (in the task row, in the func catalog, in a JSON request). */
export type Backoff =
  /** The same wait each time. */
  | { type: 'fixed'; delay: number | string; jitter?: number }
  /** `delay × attempt`, at most `cap`. */
  | { type: 'linear'; delay: number | string; cap?: number | string; jitter?: number }
  /** `delay × factor^(attempt - 1)` (factor 2 by default), at most `cap`. */
  | { type: 'exponential'; delay: number | string; factor?: number; cap?: number | string; jitter?: number }
  /** Snoop's tiers (RETRY_TIERS): after the n-th failure, the minutes of the first tier whose fail limit is above n; none: no retry. */
  | { type: 'tiers' };

export interface RetryPolicy {
  /** Most runs in all, the first included (1: never retried). Default 3. */
  attempts?: number;
  /** Default exponential from 1 s, factor 2, capped at 1 h, jitter 0.2. A function only in the decorator. */
  backoff?: Backoff | BackoffFunction;
  /**
   * Which errors retry: classes (instanceof) or codes (an error's `code`, else its `name`). Default:
   * every error. A `RetryLater` always retries (while attempts are left).
   */
  retryOn?: (ErrorClass | string)[];
  /**
   * Broken reasons that retry: engine reasons (`task_killed`, `timeout`, `result_too_large`, …) or a
   * handler's own `TaskBroken` reasons. Default `['task_killed', 'timeout']`. `cancelled` never retries.
   */
  retryBroken?: string[];
}

/** The part of a policy an enqueue may override (JSON: no classes, no functions); stored in the task row. */
export interface RetryOverride {
  attempts?: number;
  backoff?: Backoff;
  /** Error codes (an error's `code`, else its `name`). */
  retryOn?: string[];
  retryBroken?: string[];
}

/** A backoff with its durations in milliseconds. */
export type ResolvedBackoff =
  | { type: 'fixed'; delayMs: number; jitter: number }
  | { type: 'linear'; delayMs: number; capMs: number; jitter: number }
  | { type: 'exponential'; delayMs: number; factor: number; capMs: number; jitter: number }
  | { type: 'tiers' }
  | { type: 'function'; fn: BackoffFunction };

/** A policy checked and with its defaults filled in. */
export interface ResolvedRetryPolicy {
  attempts: number;
  backoff: ResolvedBackoff;
  /** Undefined: every error retries. */
  retryOn?: (ErrorClass | string)[];
  retryBroken: string[];
}

export const DEFAULT_RETRY: ResolvedRetryPolicy = {
  attempts: 3,
  backoff: { type: 'exponential', delayMs: 1000, factor: 2, capMs: 3_600_000, jitter: 0.2 },
  retryBroken: ['task_killed', 'timeout'],
};

/** Snoop's tiers as a policy (the demo pipeline's): attempts up to the last tier's fail limit. */
export const TIERS_RETRY: RetryPolicy = { attempts: Number.MAX_SAFE_INTEGER, backoff: { type: 'tiers' }, retryBroken: ['task_killed', 'timeout'] };

const NEVER_RETRIED = new Set(['cancelled']);
const CODE = /^[A-Za-z0-9_.:-]{1,100}$/;

/** Thrown by a handler: try again after `delay` (milliseconds or `30s`), whatever the backoff; counts as an attempt. */
export class RetryLater extends Error {
  readonly delayMs: number;
  constructor(delay: number | string, message = 'the handler asked to be retried later') {
    super(message);
    this.name = 'RetryLater';
    this.delayMs = delay === 0 ? 0 : parseDuration(delay, 'RetryLater delay');
  }
}

/**
 * Checks a policy and fills in the defaults; throws a TypeError naming what is wrong (`what` says
 * whose policy it is). `allowCode` false refuses classes and functions (an enqueue's override).
 */
export function resolveRetryPolicy(policy: RetryPolicy | RetryOverride | false | undefined, what: string, base: ResolvedRetryPolicy = DEFAULT_RETRY, jsonOnly = false): ResolvedRetryPolicy {
  if (policy === undefined) return base;
  if (policy === false) return { ...base, attempts: 1 };
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) throw new TypeError(`${what} must be an object`);
  const known = new Set(['attempts', 'backoff', 'retryOn', 'retryBroken']);
  for (const key of Object.keys(policy)) if (!known.has(key)) throw new TypeError(`${what}.${key} is not a retry option (attempts, backoff, retryOn, retryBroken)`);
  const attempts = policy.attempts ?? (policy.backoff && typeof policy.backoff === 'object' && policy.backoff.type === 'tiers' ? Number.MAX_SAFE_INTEGER : base.attempts);
  if (!Number.isSafeInteger(attempts) || attempts < 1) throw new TypeError(`${what}.attempts must be a whole number >= 1 (got ${JSON.stringify(policy.attempts)})`);
  const backoff = policy.backoff === undefined ? base.backoff : resolveBackoff(policy.backoff, `${what}.backoff`, jsonOnly);
  let retryOn = base.retryOn;
  if (policy.retryOn !== undefined) {
    if (!Array.isArray(policy.retryOn)) throw new TypeError(`${what}.retryOn must be an array of error classes or codes`);
    retryOn = policy.retryOn.map((e, i) => {
      if (typeof e === 'string' && CODE.test(e)) return e;
      if (!jsonOnly && typeof e === 'function') return e;
      throw new TypeError(`${what}.retryOn[${i}] must be ${jsonOnly ? 'an error code' : 'an error class or an error code'} (1-100 letters, digits, _ . : -), got ${JSON.stringify(String(e))}`);
    });
  }
  let retryBroken = base.retryBroken;
  if (policy.retryBroken !== undefined) {
    if (!Array.isArray(policy.retryBroken)) throw new TypeError(`${what}.retryBroken must be an array of broken reasons`);
    retryBroken = policy.retryBroken.map((r, i) => {
      if (typeof r !== 'string' || !CODE.test(r)) throw new TypeError(`${what}.retryBroken[${i}] must be a broken reason (1-100 letters, digits, _ . : -)`);
      if (NEVER_RETRIED.has(r)) throw new TypeError(`${what}.retryBroken[${i}]: "${r}" is an operator's decision and never retried`);
      return r;
    });
  }
  return { attempts, backoff, retryOn, retryBroken };
}

function resolveBackoff(b: Backoff | BackoffFunction, what: string, jsonOnly: boolean): ResolvedBackoff {
  if (typeof b === 'function') {
    if (jsonOnly) throw new TypeError(`${what}: a function backoff is a @TaskHandler option only`);
    return { type: 'function', fn: b };
  }
  if (typeof b !== 'object' || b === null) throw new TypeError(`${what} must be { type: 'fixed' | 'linear' | 'exponential' | 'tiers', … } or a function`);
  const jitter = (j: unknown): number => {
    if (j === undefined) return 0;
    if (typeof j !== 'number' || !(j >= 0 && j <= 1)) throw new TypeError(`${what}.jitter must be a number from 0 to 1 (a fraction of the delay)`);
    return j;
  };
  const ms = (v: unknown, field: string): number => {
    if (typeof v === 'number' && v === 0) return 0;
    return parseDuration(v as number | string, `${what}.${field}`);
  };
  const allowed: Record<string, string[]> = { fixed: ['delay', 'jitter'], linear: ['delay', 'cap', 'jitter'], exponential: ['delay', 'factor', 'cap', 'jitter'], tiers: [] };
  const fields = allowed[(b as { type: string }).type];
  if (!fields) throw new TypeError(`${what}.type must be fixed, linear, exponential or tiers (got ${JSON.stringify((b as { type: unknown }).type)})`);
  for (const key of Object.keys(b)) if (key !== 'type' && !fields.includes(key)) throw new TypeError(`${what}.${key} is not an option of a ${b.type} backoff`);
  switch (b.type) {
    case 'fixed':
      return { type: 'fixed', delayMs: ms(b.delay, 'delay'), jitter: jitter(b.jitter) };
    case 'linear':
      return { type: 'linear', delayMs: ms(b.delay, 'delay'), capMs: b.cap === undefined ? Number.MAX_SAFE_INTEGER : ms(b.cap, 'cap'), jitter: jitter(b.jitter) };
    case 'exponential': {
      const factor = b.factor ?? 2;
      if (typeof factor !== 'number' || !(factor >= 1 && factor <= 100)) throw new TypeError(`${what}.factor must be a number from 1 to 100`);
      return { type: 'exponential', delayMs: ms(b.delay, 'delay'), factor, capMs: b.cap === undefined ? 3_600_000 : ms(b.cap, 'cap'), jitter: jitter(b.jitter) };
    }
    case 'tiers':
      return { type: 'tiers' };
  }
}

/** A policy as JSON (the func catalog's copy, for the dispatcher's dead tasks): a function backoff becomes the default one. */
export function retryPolicyJson(p: ResolvedRetryPolicy): RetryOverride {
  const b = p.backoff;
  const backoff: Backoff =
    b.type === 'function'
      ? jsonBackoff(DEFAULT_RETRY.backoff)
      : jsonBackoff(b);
  return { attempts: p.attempts, backoff, retryOn: p.retryOn?.filter((e): e is string => typeof e === 'string'), retryBroken: p.retryBroken };
}

function jsonBackoff(b: ResolvedBackoff): Backoff {
  switch (b.type) {
    case 'fixed':
      return { type: 'fixed', delay: b.delayMs, jitter: b.jitter };
    case 'linear':
      return { type: 'linear', delay: b.delayMs, cap: b.capMs, jitter: b.jitter };
    case 'exponential':
      return { type: 'exponential', delay: b.delayMs, factor: b.factor, cap: b.capMs, jitter: b.jitter };
    default:
      return { type: 'tiers' };
  }
}

/** How an attempt failed, as the retry decision sees it. */
export interface Failure {
  /** `error` (a temporary failure) or `broken`. */
  status: 'error' | 'broken';
  /** The broken reason ('' for an error). */
  reason: string;
  /** What the handler threw, when it threw (not for an engine reason such as a timeout or a kill). */
  thrown?: unknown;
}

/** RETRY_TIERS, as the config parses them. */
export type RetryTiers = readonly { minutes: number; failLimit: number }[];

/**
 * The wait before the next attempt, in milliseconds, or null: no retry. `failures` counts this
 * failure too (1 after the first). `random` in [0, 1) spreads the jitter.
 */
export function retryDelay(policy: ResolvedRetryPolicy, failures: number, failure: Failure, tiers: RetryTiers, random: () => number = Math.random): number | null {
  if (failures >= policy.attempts) return null;
  if (failure.thrown instanceof RetryLater) return failure.thrown.delayMs;
  if (failure.status === 'broken') {
    if (NEVER_RETRIED.has(failure.reason) || !policy.retryBroken.includes(failure.reason)) return null;
  } else if (policy.retryOn !== undefined && !policy.retryOn.some((match) => matches(match, failure.thrown))) {
    return null;
  }
  return backoffDelay(policy.backoff, failures, failure.thrown, tiers, random);
}

function matches(match: ErrorClass | string, thrown: unknown): boolean {
  if (typeof match === 'function') return thrown instanceof match;
  const e = thrown as { code?: unknown; name?: unknown } | null | undefined;
  return e !== null && e !== undefined && (e.code === match || (e.code === undefined && e.name === match) || e.name === match);
}

/** The backoff's wait after `failures` failures; null when the tiers have none left. */
export function backoffDelay(b: ResolvedBackoff, failures: number, thrown: unknown, tiers: RetryTiers, random: () => number = Math.random): number | null {
  const spread = (ms: number, jitter: number) => Math.max(0, Math.round(ms * (1 + jitter * (2 * random() - 1))));
  switch (b.type) {
    case 'fixed':
      return spread(b.delayMs, b.jitter);
    case 'linear':
      return spread(Math.min(b.capMs, b.delayMs * failures), b.jitter);
    case 'exponential':
      return Math.min(b.capMs, spread(Math.min(b.capMs, b.delayMs * b.factor ** (failures - 1)), b.jitter));
    case 'tiers': {
      const tier = tiers.find((t) => failures < t.failLimit);
      return tier ? tier.minutes * 60_000 : null;
    }
    case 'function': {
      const ms = b.fn(failures, thrown);
      return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : null;
    }
  }
}

/** The effective policy of one task: its func's, with the enqueue's override (already checked) on top. */
export function withOverride(func: ResolvedRetryPolicy, override: RetryOverride | null | undefined): ResolvedRetryPolicy {
  if (!override) return func;
  try {
    return resolveRetryPolicy(override, 'retryPolicy', func, true);
  } catch {
    // Checked at enqueue; a row written by hand that does not parse leaves the func's policy in force.
    return func;
  }
}
