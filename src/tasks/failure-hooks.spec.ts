import { FailureHooks, failsForGood, type TaskFailure } from './failure-hooks.js';
import { TaskStatus } from './task-status.js';

const tiers = [{ failLimit: 3 }, { failLimit: 6 }, { failLimit: 9 }];

describe('failsForGood', () => {
  it('broken is for good; error only once no tier retries it', () => {
    expect(failsForGood({ status: TaskStatus.Broken, failCount: 1 }, tiers)).toBe(true);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 8 }, tiers)).toBe(false);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 9 }, tiers)).toBe(true);
    expect(failsForGood({ status: TaskStatus.Success, failCount: 9 }, tiers)).toBe(false);
    expect(failsForGood({ status: TaskStatus.Error, failCount: 1 }, [])).toBe(true);
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
