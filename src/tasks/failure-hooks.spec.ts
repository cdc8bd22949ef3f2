import { FailureHooks, failsForGood, type TaskFailure } from './failure-hooks.js';
import { TaskStatus } from './task-status.js';

const tiers = [{ failLimit: 3 }, { failLimit: 6 }, { failLimit: 9 }];

describe('failsForGood', () => {
  it('under a retry policy: a failure is for good exactly when its finish wrote no retry time', () => {
    expect(failsForGood({ status: TaskStatus.Broken, failCount: 1 }, { retryInMs: null })).toBe(true);
    expect(failsForGood({ status: TaskStatus.Broken, failCount: 1 }, { retryInMs: 0 })).toBe(false);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 1 }, { retryInMs: 1000 })).toBe(false);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 3 }, { retryInMs: null })).toBe(true);
    expect(failsForGood({ status: TaskStatus.Success, failCount: 3 }, { retryInMs: null })).toBe(false);
  });

  it('under the tiers (bulk funcs): broken is for good; error only once no tier retries it', () => {
    expect(failsForGood({ status: TaskStatus.Broken, failCount: 1 }, { tiers })).toBe(true);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 8 }, { tiers })).toBe(false);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 9 }, { tiers })).toBe(true);
    expect(failsForGood({ status: TaskStatus.Success, failCount: 9 }, { tiers })).toBe(false);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 1 }, { tiers: [] })).toBe(true);
  });
});

describe('FailureHooks', () => {
  const failure: TaskFailure = { taskId: '1', collection: 'default', func: 'f', attempt: 1, status: TaskStatus.Broken, reason: 'x', error: 'boom', failCount: 1 };

  it('calls each hook; one that throws does not stop the others nor the caller', async () => {
    const hooks = new FailureHooks();
    const seen: string[] = [];
    hooks.add('A.a', () => {
      throw new Error('hook down');
    });
    hooks.add('B.b', async (f) => {
      seen.push(f.taskId);
    });
    await expect(hooks.report([failure])).resolves.toBeUndefined();
    expect(seen).toEqual(['1']);
  });
});
