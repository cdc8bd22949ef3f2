import { RunAbort } from './run-abort.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RunAbort: the handler behind the race', () => {
  it('an abort ends the race at once, while the handler is still running until it settles', async () => {
    const abort = new RunAbort();
    const handler = deferred();
    const race = abort.race(handler.promise);
    expect(abort.handlerRunning).toBe(true);
    abort.abort(new Error('timed out'));
    await expect(race).rejects.toThrow('timed out');
    expect(abort.handlerRunning).toBe(true);
    let settled = false;
    const whenSettled = abort.whenHandlerSettled().then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    handler.resolve();
    await whenSettled;
    expect(abort.handlerRunning).toBe(false);
  });

  it('a handler that settles first ends the race and is not running any more', async () => {
    const abort = new RunAbort();
    await expect(abort.race(Promise.resolve(7))).resolves.toBe(7);
    expect(abort.handlerRunning).toBe(false);
    await abort.whenHandlerSettled();
  });

  it('a handler raced after the abort is still followed until it settles', async () => {
    const abort = new RunAbort();
    abort.abort(new Error('process.exit'));
    const handler = deferred();
    await expect(abort.race(handler.promise)).rejects.toThrow('process.exit');
    expect(abort.handlerRunning).toBe(true);
    handler.resolve();
    await abort.whenHandlerSettled();
    expect(abort.handlerRunning).toBe(false);
  });
});

describe('RunAbort.onAbort', () => {
  it('tells its listeners the reason once, at once when already aborted, and not after they are removed', () => {
    const abort = new RunAbort();
    const heard: unknown[] = [];
    const stop = abort.onAbort((why) => heard.push(['first', why]));
    const stopSecond = abort.onAbort((why) => heard.push(['second', why]));
    stopSecond();
    abort.abort('timeout');
    abort.abort('again');
    abort.onAbort((why) => heard.push(['late', why]));
    stop();
    expect(heard).toEqual([
      ['first', 'timeout'],
      ['late', 'timeout'],
    ]);
  });
});
