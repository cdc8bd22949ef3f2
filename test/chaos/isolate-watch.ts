import * as childProcess from 'node:child_process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as workerThreads from 'node:worker_threads';
import { ExecutionLog, isolateKey } from './execution-log.js';

const require = createRequire(import.meta.url);

/**
 * Records, in this worker process's execution log, when each of its isolates ends (the exit event
 * of its worker thread or child process), before the engine's own exit listener runs: a handler
 * ended by force (hard timeout, a crash, out of memory) writes no end of its own, and the checker
 * takes this as its end. Done by wrapping `fork` and `Worker` of the built-in modules (and
 * syncing their ES module bindings, which the engine imported): the engine is not changed for the
 * test. Children are told they are isolates (CHAOS_ISOLATE_CHILD), so their records name their owner.
 */
export function watchIsolates(dir: string | undefined): void {
  const log = new ExecutionLog(dir);
  const cp = require('node:child_process') as typeof childProcess;
  const wt = require('node:worker_threads') as typeof workerThreads;
  const originalFork = cp.fork;
  cp.fork = function fork(this: unknown, modulePath: string, ...rest: unknown[]) {
    const args = Array.isArray(rest[0]) ? (rest.shift() as string[]) : [];
    const options = (rest[0] ?? {}) as childProcess.ForkOptions;
    const child = originalFork.call(this, modulePath, args, { ...options, env: { ...(options.env ?? process.env), CHAOS_ISOLATE_CHILD: '1' } });
    const pid = child.pid;
    if (pid !== undefined) child.once('exit', () => log.isolateEnded(isolateKey('child', pid)));
    return child;
  } as typeof cp.fork;
  const OriginalWorker = wt.Worker;
  wt.Worker = class WatchedWorker extends OriginalWorker {
    constructor(...args: ConstructorParameters<typeof OriginalWorker>) {
      super(...args);
      const id = this.threadId;
      this.once('exit', () => log.isolateEnded(isolateKey('thread', id)));
    }
  };
  syncBuiltinESMExports();
}
