import { backoffDelay, DEFAULT_RETRY, resolveRetryPolicy, RetryLater, retryDelay, withOverride } from './retry-policy.js';
import { TaskBroken, TaskError } from './tasks.errors.js';

const TIERS = [
  { minutes: 5, failLimit: 3 },
  { minutes: 150, failLimit: 6 },
];
const half = () => 0.5;
class Upstream503 extends Error {}

describe('resolveRetryPolicy', () => {
  it('fills in the defaults: 3 attempts, exponential from 1 s, task_killed and timeout retried', () => {
    expect(resolveRetryPolicy(undefined, 'retry')).toEqual(DEFAULT_RETRY);
    expect(resolveRetryPolicy(false, 'retry').attempts).toBe(1);
    expect(resolveRetryPolicy({ backoff: { type: 'tiers' } }, 'retry').attempts).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('names what is wrong', () => {
    expect(() => resolveRetryPolicy({ attempts: 0 }, 'retry')).toThrow('retry.attempts must be a whole number >= 1 (got 0)');
    expect(() => resolveRetryPolicy({ backoff: { type: 'fixed', delay: 'soon' } }, 'retry')).toThrow('retry.backoff.delay must be');
    expect(() => resolveRetryPolicy({ backoff: { type: 'cubic' } as never }, 'retry')).toThrow('retry.backoff.type must be fixed, linear, exponential or tiers (got "cubic")');
    expect(() => resolveRetryPolicy({ backoff: { type: 'fixed', delay: 10, cap: 5 } as never }, 'retry')).toThrow('retry.backoff.cap is not an option of a fixed backoff');
    expect(() => resolveRetryPolicy({ backoff: { type: 'fixed', delay: 10, jitter: 2 } }, 'retry')).toThrow('retry.backoff.jitter must be a number from 0 to 1');
    expect(() => resolveRetryPolicy({ retryBroken: ['cancelled'] }, 'retry')).toThrow('"cancelled" is an operator\'s decision');
    expect(() => resolveRetryPolicy({ tries: 3 } as never, 'retry')).toThrow('retry.tries is not a retry option');
    expect(() => resolveRetryPolicy({ retryOn: [Upstream503] }, 'retryPolicy', DEFAULT_RETRY, true)).toThrow('retryPolicy.retryOn[0] must be an error code');
    expect(() => resolveRetryPolicy({ backoff: () => 1 }, 'retryPolicy', DEFAULT_RETRY, true)).toThrow('a function backoff is a @TaskHandler option only');
  });
});

describe('retryDelay', () => {
  const policy = resolveRetryPolicy({ attempts: 3, backoff: { type: 'fixed', delay: '2s' } }, 'retry');

  it('retries an error while attempts are left', () => {
    expect(retryDelay(policy, 1, { status: 'error', reason: '', thrown: new Error('x') }, TIERS)).toBe(2000);
    expect(retryDelay(policy, 2, { status: 'error', reason: '', thrown: new Error('x') }, TIERS)).toBe(2000);
    expect(retryDelay(policy, 3, { status: 'error', reason: '', thrown: new Error('x') }, TIERS)).toBeNull();
  });

  it("keeps a handler's TaskBroken permanent unless its reason is listed; engine reasons by the list", () => {
    expect(retryDelay(policy, 1, { status: 'broken', reason: 'bad_args', thrown: new TaskBroken('bad_args', 'no') }, TIERS)).toBeNull();
    const listed = resolveRetryPolicy({ retryBroken: ['bad_args'], backoff: { type: 'fixed', delay: 0 } }, 'retry');
    expect(retryDelay(listed, 1, { status: 'broken', reason: 'bad_args', thrown: new TaskBroken('bad_args', 'no') }, TIERS)).toBe(0);
    expect(retryDelay(policy, 1, { status: 'broken', reason: 'timeout' }, TIERS)).toBe(2000);
    expect(retryDelay(policy, 1, { status: 'broken', reason: 'cancelled' }, TIERS)).toBeNull();
    expect(retryDelay(listed, 1, { status: 'broken', reason: 'timeout' }, TIERS)).toBeNull();
  });

  it('retries only the errors retryOn names: classes, or codes (an error code, else its name)', () => {
    const only = resolveRetryPolicy({ retryOn: [Upstream503, 'ECONNABORTED', 'TaskError'], backoff: { type: 'fixed', delay: 5 } }, 'retry');
    expect(retryDelay(only, 1, { status: 'error', reason: '', thrown: new Upstream503('x') }, TIERS)).toBe(5);
    expect(retryDelay(only, 1, { status: 'error', reason: '', thrown: Object.assign(new Error('x'), { code: 'ECONNABORTED' }) }, TIERS)).toBe(5);
    expect(retryDelay(only, 1, { status: 'error', reason: '', thrown: new TaskError('x') }, TIERS)).toBe(5);
    expect(retryDelay(only, 1, { status: 'error', reason: '', thrown: new TypeError('x') }, TIERS)).toBeNull();
  });

  it('RetryLater sets its own delay, whatever retryOn says, while attempts are left', () => {
    const only = resolveRetryPolicy({ retryOn: ['nothing'] }, 'retry');
    expect(retryDelay(only, 1, { status: 'error', reason: '', thrown: new RetryLater('30s') }, TIERS)).toBe(30_000);
    expect(retryDelay(only, 3, { status: 'error', reason: '', thrown: new RetryLater(10) }, TIERS)).toBeNull();
  });

  it('applies an enqueue override on top of the func policy', () => {
    const p = withOverride(policy, { attempts: 1 });
    expect(retryDelay(p, 1, { status: 'error', reason: '', thrown: new Error('x') }, TIERS)).toBeNull();
    expect(withOverride(policy, null)).toBe(policy);
  });
});

describe('backoffDelay', () => {
  it('fixed, linear and exponential with a cap; jitter spreads around the delay', () => {
    expect(backoffDelay({ type: 'fixed', delayMs: 100, jitter: 0 }, 5, undefined, TIERS)).toBe(100);
    expect(backoffDelay({ type: 'linear', delayMs: 100, capMs: 250, jitter: 0 }, 2, undefined, TIERS)).toBe(200);
    expect(backoffDelay({ type: 'linear', delayMs: 100, capMs: 250, jitter: 0 }, 3, undefined, TIERS)).toBe(250);
    expect(backoffDelay({ type: 'exponential', delayMs: 100, factor: 2, capMs: 10_000, jitter: 0 }, 4, undefined, TIERS)).toBe(800);
    expect(backoffDelay({ type: 'exponential', delayMs: 100, factor: 2, capMs: 500, jitter: 0 }, 10, undefined, TIERS)).toBe(500);
    expect(backoffDelay({ type: 'fixed', delayMs: 1000, jitter: 0.2 }, 1, undefined, TIERS, () => 0)).toBe(800);
    expect(backoffDelay({ type: 'fixed', delayMs: 1000, jitter: 0.2 }, 1, undefined, TIERS, () => 0.999999)).toBe(1200);
    expect(backoffDelay({ type: 'exponential', delayMs: 1000, factor: 2, capMs: 1000, jitter: 0.5 }, 3, undefined, TIERS, () => 0.99)).toBe(1000);
  });

  it("snoop's tiers: the first tier whose fail limit is above the failures; none left, no retry", () => {
    expect(backoffDelay({ type: 'tiers' }, 2, undefined, TIERS)).toBe(5 * 60_000);
    expect(backoffDelay({ type: 'tiers' }, 3, undefined, TIERS)).toBe(150 * 60_000);
    expect(backoffDelay({ type: 'tiers' }, 6, undefined, TIERS)).toBeNull();
  });

  it('a function gets the failure count and the error; a bad answer is no retry', () => {
    const seen: unknown[] = [];
    expect(backoffDelay({ type: 'function', fn: (n, e) => (seen.push(e), n * 7) }, 3, 'boom', TIERS, half)).toBe(21);
    expect(seen).toEqual(['boom']);
    expect(backoffDelay({ type: 'function', fn: () => Number.NaN }, 1, undefined, TIERS)).toBeNull();
  });
});
