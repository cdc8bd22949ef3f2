import { BrokenReason, TaskStatus } from '../../tasks/task-status.js';
import { DependencyBroken, ExtraDependency, MissingDependency, TaskBroken, TaskError } from '../../tasks/tasks.errors.js';
import { failureOutcome, isConnectionError, Outcome, successOutcome, TaskAbandoned, TaskCancelled, TaskTimeout } from './task-outcome.js';

const live = () => new AbortController().signal;
const abortedWith = (reason: unknown) => {
  const c = new AbortController();
  c.abort(reason);
  return c.signal;
};
const finalOf = (o: Outcome) => {
  if (o.kind !== 'final') throw new Error(`expected a final outcome, got ${o.kind}`);
  return o;
};
const withCode = (code: string, message = `failed with ${code}`) => Object.assign(new Error(message), { code });

describe('successOutcome', () => {
  it('stores the return value as canonical JSON', () => {
    expect(successOutcome({ b: 1, a: [2] }, 1024)).toEqual({ kind: 'final', status: TaskStatus.Success, result: '{"a":[2],"b":1}', error: '', reason: '', trace: '' });
  });

  it('stores undefined as null', () => {
    expect(finalOf(successOutcome(undefined, 1024)).result).toBe('null');
  });

  it('breaks the task when the value is not JSON, saying where', () => {
    const o = finalOf(successOutcome({ at: new Date() }, 1024));
    expect(o.status).toBe(TaskStatus.Broken);
    expect(o.reason).toBe(BrokenReason.InvalidResult);
    expect(o.result).toBeNull();
    expect(o.error).toContain('$.at is a Date');
  });

  it('accepts a result of exactly the limit and breaks one a byte over it', () => {
    // '"' + 8 chars + '"' = 10 bytes of JSON
    expect(finalOf(successOutcome('x'.repeat(8), 10)).status).toBe(TaskStatus.Success);
    const over = finalOf(successOutcome('x'.repeat(9), 10));
    expect(over.status).toBe(TaskStatus.Broken);
    expect(over.reason).toBe(BrokenReason.ResultTooLarge);
    expect(over.error).toBe('result is 11 bytes of JSON, over the limit of 10 (TASK_RESULT_MAX_BYTES)');
    expect(over.result).toBeNull();
  });

  it('counts the limit in bytes, not characters', () => {
    // 5 two-byte characters: 7 characters of JSON, 12 bytes.
    const o = finalOf(successOutcome('ééééé', 10));
    expect(o.reason).toBe(BrokenReason.ResultTooLarge);
    expect(o.error).toContain('12 bytes');
  });
});

describe('failureOutcome', () => {
  it('TaskBroken → broken with its reason and message, the stack as trace', () => {
    const o = finalOf(failureOutcome(new TaskBroken('corrupt_input', 'the file is corrupt'), live()));
    expect(o).toMatchObject({ status: TaskStatus.Broken, reason: 'corrupt_input', error: 'the file is corrupt', result: null });
    expect(o.trace).toContain('TaskBroken: the file is corrupt');
  });

  it('DependencyBroken thrown by a handler → broken like its parent', () => {
    const o = finalOf(failureOutcome(new DependencyBroken('parent', 'corrupt_input', 'bad bytes'), live()));
    expect(o).toMatchObject({ status: TaskStatus.Broken, reason: 'corrupt_input' });
    expect(o.error).toBe('dependency "parent" is broken (corrupt_input): bad bytes');
  });

  it('TaskError → error with its message and details', () => {
    expect(finalOf(failureOutcome(new TaskError('upstream said 503', { status: 503 }), live()))).toMatchObject({
      status: TaskStatus.Error,
      reason: '',
      error: 'upstream said 503 ({"status":503})',
    });
    expect(finalOf(failureOutcome(new TaskError('plain'), live())).error).toBe('plain');
  });

  it('TaskError with details JSON cannot encode still gets a message', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const o = finalOf(failureOutcome(new TaskError('odd', circular), live()));
    expect(o.status).toBe(TaskStatus.Error);
    expect(o.error).toMatch(/^odd \(/);
  });

  it('an unknown exception → error naming its class', () => {
    expect(finalOf(failureOutcome(new TypeError('x is not a function'), live()))).toMatchObject({
      status: TaskStatus.Error,
      reason: '',
      error: 'TypeError: x is not a function',
    });
  });

  it('a thrown non-Error value → error showing the value', () => {
    expect(finalOf(failureOutcome('just a string', live())).error).toBe('thrown value: "just a string"');
    expect(finalOf(failureOutcome({ code: 42 }, live())).error).toBe('thrown value: {"code":42}');
    expect(finalOf(failureOutcome(undefined, live())).status).toBe(TaskStatus.Error);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', '08006', '08003', '57P01'])(
    'a connection error (%s) → back to pending, not a failure',
    (code) => {
      const o = finalOf(failureOutcome(withCode(code), live()));
      expect(o.status).toBe(TaskStatus.Pending);
      expect(o.reason).toBe('');
      expect(o.error).toBe(`Error: failed with ${code}`);
    },
  );

  it('other database errors are failures', () => {
    expect(finalOf(failureOutcome(withCode('23505', 'duplicate key'), live())).status).toBe(TaskStatus.Error);
    expect(finalOf(failureOutcome(withCode('40P01', 'deadlock detected'), live())).status).toBe(TaskStatus.Error);
  });

  it('a timeout → broken `timeout`, whatever the handler threw on the way out', () => {
    const signal = abortedWith(new TaskTimeout(300));
    const o = finalOf(failureOutcome(new TaskError('aborted'), signal));
    expect(o).toMatchObject({ status: TaskStatus.Broken, reason: BrokenReason.Timeout, error: 'timed out after 0.3s' });
  });

  it('a cancel → broken `cancelled`', () => {
    expect(finalOf(failureOutcome(new Error('x'), abortedWith(new TaskCancelled())))).toMatchObject({
      status: TaskStatus.Broken,
      reason: BrokenReason.Cancelled,
      error: 'cancelled by an operator',
    });
  });

  it('an abandoned run writes nothing', () => {
    expect(failureOutcome(new Error('x'), abortedWith(new TaskAbandoned('shutdown')))).toEqual({ kind: 'abandon', why: 'shutdown' });
  });

  it('a missing dependency → the task waits for its new parent', () => {
    expect(failureOutcome(new MissingDependency('text', '42'), live())).toEqual({ kind: 'missing', dependency: 'text', prevId: '42' });
  });

  it('an extra dependency → the task runs again without it', () => {
    expect(failureOutcome(new ExtraDependency('old'), live())).toEqual({ kind: 'extra', dependency: 'old' });
  });

  it('caps the trace at 2048 characters', () => {
    const o = finalOf(failureOutcome(new TaskError('y'.repeat(5000)), live()));
    expect(o.trace.length).toBe(2048);
    const plain = finalOf(failureOutcome('z'.repeat(5000), live()));
    expect(plain.trace.length).toBeLessThanOrEqual(2048);
  });
});

describe('isConnectionError', () => {
  it('is true only for network codes and PostgreSQL connection classes', () => {
    expect(isConnectionError(withCode('ECONNRESET'))).toBe(true);
    expect(isConnectionError(withCode('08P01'))).toBe(true);
    expect(isConnectionError(withCode('57P01'))).toBe(true);
    expect(isConnectionError(withCode('57014'))).toBe(false);
    expect(isConnectionError(new Error('ECONNRESET'))).toBe(false);
    expect(isConnectionError({ code: 8006 })).toBe(false);
    expect(isConnectionError(null)).toBe(false);
    expect(isConnectionError(undefined)).toBe(false);
  });
});
