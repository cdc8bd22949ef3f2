import { jest } from '@jest/globals';
import type { AppConfig } from '../../config/app-config.js';
import { GuardedRun, HandlerGuard } from './handler-guard.js';
import { HandlerExitCalled } from './task-outcome.js';

/** A run as the runner makes one: failing it rejects `aborted`, as the runner's race does. */
function fakeRun(name: string) {
  const failures: Error[] = [];
  let settled = false;
  let reject!: (err: Error) => void;
  const aborted = new Promise<never>((_, rej) => (reject = rej));
  aborted.catch(() => undefined);
  const run: GuardedRun = {
    describe: () => `task ${name}`,
    fail: (err) => {
      if (settled) return false;
      failures.push(err);
      reject(err);
      return true;
    },
  };
  return { run, failures, aborted, settle: () => (settled = true) };
}

const configOf = (handlerGuard: AppConfig['handlerGuard'], roles = ['worker']) =>
  ({ handlerGuard, has: (role: string) => roles.includes(role) }) as unknown as AppConfig;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('HandlerGuard', () => {
  const realExit = process.exit;
  let exit: jest.Mock<(code?: number | string | null) => void>;
  let guard: HandlerGuard | undefined;

  beforeEach(() => {
    // The original process.exit, as the guard finds it: never the real one in a test.
    exit = jest.fn();
    process.exit = exit as unknown as typeof process.exit;
  });
  afterEach(() => {
    guard?.uninstall();
    guard = undefined;
    process.exit = realExit;
  });

  function installed(mode: AppConfig['handlerGuard'] = 'exit', roles?: string[]): HandlerGuard {
    guard = new HandlerGuard(configOf(mode, roles));
    guard.onModuleInit();
    return guard;
  }

  it('leaves process.exit outside a handler to the original', () => {
    installed();
    expect(process.exit).not.toBe(exit);
    process.exit(7);
    expect(exit).toHaveBeenCalledWith(7);
  });

  it('puts the original back when uninstalled', () => {
    installed().uninstall();
    expect(process.exit).toBe(exit);
  });

  it('is not installed in a process without the worker or scheduler role, nor with HANDLER_GUARD=off', () => {
    installed('exit', ['api']);
    expect(process.exit).toBe(exit);
    installed('off', ['worker', 'scheduler']);
    expect(process.exit).toBe(exit);
  });

  it.each(['exit', 'full'] as const)('%s: turns a synchronous process.exit into a failure of that run only', async (mode) => {
    const g = installed(mode);
    const escapes: string[] = [];
    g.onEscape((e) => escapes.push(e));
    const poison = fakeRun('poison');
    const bystander = fakeRun('bystander');
    let release!: () => void;
    const other = g.run(bystander.run, () => new Promise<string>((resolve) => (release = () => resolve('done'))));
    const thrown = g.run(poison.run, async () => process.exit(3));
    await expect(thrown).rejects.toBeInstanceOf(HandlerExitCalled);
    await expect(thrown).rejects.toThrow('handler called process.exit(3)');
    expect(poison.failures.map((e) => e.message)).toEqual(['handler called process.exit(3)']);
    release();
    await expect(other).resolves.toBe('done');
    expect(bystander.failures).toEqual([]);
    expect(exit).not.toHaveBeenCalled();
    expect(escapes).toEqual(['exit']);
  });

  it.each(['exit', 'full'] as const)('%s: catches process.exit later in the chain the handler awaits', async (mode) => {
    const g = installed(mode);
    const poison = fakeRun('poison');
    const bystander = fakeRun('bystander');
    const other = g.run(bystander.run, async () => {
      await nextTurn();
      return 'fine';
    });
    const helper = async () => {
      await nextTurn();
      process.exit(4);
    };
    const thrown = g.run(poison.run, async () => {
      await nextTurn();
      await helper();
    });
    await expect(thrown).rejects.toThrow('handler called process.exit(4)');
    await expect(other).resolves.toBe('fine');
    expect(poison.failures).toHaveLength(1);
    expect(bystander.failures).toEqual([]);
    expect(exit).not.toHaveBeenCalled();
  });

  it.each(['exit', 'full'] as const)('%s: catches process.exit one microtask into the handler, and in a helper it returns unawaited', async (mode) => {
    const g = installed(mode);
    const direct = fakeRun('direct');
    const helper = async () => {
      await nextTurn();
      process.exit(9);
    };
    await expect(
      g.run(direct.run, async () => {
        await Promise.resolve();
        process.exit(8);
      }),
    ).rejects.toThrow('handler called process.exit(8)');
    const hop = fakeRun('hop');
    // An async handler returning its helper's promise without `await`: linked by the time the helper resumes.
    await expect(g.run(hop.run, async () => helper())).rejects.toThrow('handler called process.exit(9)');
    expect(exit).not.toHaveBeenCalled();
  });

  it('full: catches process.exit in a timer the handler set, failing its run', async () => {
    const g = installed('full');
    const poison = fakeRun('poison');
    // The timer's throw has nowhere to go but the process: swallow it here as the guard's listener does.
    void g.run(poison.run, async () => void setTimeout(() => expect(() => process.exit(5)).toThrow(HandlerExitCalled), 1));
    await expect(poison.aborted).rejects.toThrow('handler called process.exit(5)');
    expect(exit).not.toHaveBeenCalled();
  });

  it('exit: leaves process.exit from a timer the handler set to the original (not attributable without a context)', async () => {
    const g = installed('exit');
    const poison = fakeRun('poison');
    let fired!: () => void;
    const timerFired = new Promise<void>((resolve) => (fired = resolve));
    await g.run(poison.run, async () => {
      setTimeout(() => {
        process.exit(6);
        fired();
      }, 1);
    });
    await timerFired;
    expect(exit).toHaveBeenCalledWith(6);
    expect(poison.failures).toEqual([]);
  });

  it('leaves process.exit to the original once the run has settled', async () => {
    const g = installed('full');
    const poison = fakeRun('poison');
    let fired!: () => void;
    const timerFired = new Promise<void>((resolve) => (fired = resolve));
    // The handler returns at once; its timer (in its context) fires after the run has settled.
    await g.run(poison.run, async () => {
      setTimeout(() => {
        process.exit(8);
        fired();
      }, 1);
    });
    poison.settle();
    await timerFired;
    expect(exit).toHaveBeenCalledWith(8);
    expect(poison.failures).toEqual([]);
  });

  it('names the exit code as given', () => {
    expect(new HandlerExitCalled(86).message).toBe('handler called process.exit(86)');
    expect(new HandlerExitCalled('2').message).toBe('handler called process.exit("2")');
    expect(new HandlerExitCalled(undefined).message).toBe('handler called process.exit()');
  });
});
