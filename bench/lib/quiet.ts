import { readFile } from 'node:fs/promises';
import { sleep } from './clock.js';

/** Busy share of all cores under which the machine counts as quiet. At rest here it is 1-5%. */
const QUIET_BUSY = 0.15;
const WINDOW_MS = 500;
const MAX_WAIT_MS = 20_000;

/** Busy and total jiffies of all cores, from /proc/stat; undefined where there is none. */
async function cpuTimes(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return undefined;
  }
}

/**
 * Waits until the machine is quiet: what the last session left behind (RabbitMQ compacting the
 * message store of 20,000 acked messages, PostgreSQL's checkpointer and autovacuum after a
 * database was dropped) otherwise lands in the next measurement, and always in the same system's
 * (the first of each round). Returns how long it waited and the last window's busy share; gives up
 * after MAX_WAIT_MS (the caller reports it).
 */
export async function untilQuiet(): Promise<{ waitedMs: number; busy: number; quiet: boolean }> {
  const start = Date.now();
  let before = await cpuTimes();
  if (!before) return { waitedMs: 0, busy: 0, quiet: true };
  for (;;) {
    await sleep(WINDOW_MS);
    const after = (await cpuTimes())!;
    const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    const waitedMs = Date.now() - start;
    if (busy < QUIET_BUSY || waitedMs >= MAX_WAIT_MS) return { waitedMs, busy, quiet: busy < QUIET_BUSY };
    before = after;
  }
}
