import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Wall-clock milliseconds with sub-millisecond resolution. performance.timeOrigin is taken from
 * the system clock at process start, so values from the bench and its worker processes on this
 * machine can be subtracted from each other (enqueue in one process, start in another).
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Polls `check` every `everyMs` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs: number, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

export { sleep };
