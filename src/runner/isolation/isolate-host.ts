import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner, NestFactory } from '@nestjs/core';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalJson } from '../../tasks/canonical-json.js';
import type { EnqueueOptions, TaskHandle } from '../../tasks/enqueue-request.js';
import { pickHandlersModules } from '../../tasks/handlers-files.js';
import type { TaskHandlerFn } from '../../tasks/task-handler.decorator.js';
import { discoverTaskHandlers } from '../../tasks/task-registry.js';
import { BrokenReason } from '../../tasks/task-status.js';
import { TaskBroken } from '../../tasks/tasks.errors.js';
import { RunAbort } from '../run/run-abort.js';
import { RunContext } from '../run/run-context.js';
import { decodeDeps, decodeError, encodeError, FromIsolate, IsolateBoot, IsolatedTask, ToIsolate } from './isolate-protocol.js';

// The entry of an isolate: a worker thread (workerData) or a child process (argv[2]) that boots the
// worker's handlers files in a Nest application context of its own, then runs one task at a time
// for its worker. Handlers get the same (args, deps, ctx): ctx's logger and enqueue go through
// the worker. What a handler does to this isolate (process.exit, a crash, running out of memory,
// an uncaught error) ends at most the isolate and its one task.

const channel = parentPort
  ? { send: (m: FromIsolate) => parentPort!.postMessage(m), on: (fn: (m: ToIsolate) => void) => parentPort!.on('message', fn), isThread: true }
  : { send: (m: FromIsolate) => process.send!(m), on: (fn: (m: ToIsolate) => void) => process.on('message', fn), isThread: false };

const boot = (parentPort ? workerData : JSON.parse(process.argv[2] ?? '{}')) as IsolateBoot;

interface Current {
  run: number;
  abort: RunAbort;
}

let current: Current | undefined;
let nextCall = 0;
const calls = new Map<number, { resolve: (h: TaskHandle) => void; reject: (e: Error) => void }>();

/** The isolate's own memory measure: a thread's V8 heap (the process's RSS is the worker's), a child's RSS. */
const memory = (): number => (channel.isThread ? process.memoryUsage().heapUsed : process.memoryUsage.rss());

function enqueueThroughWorker(run: number, func: string, args: unknown, options: EnqueueOptions): Promise<TaskHandle> {
  if ((options as { tx?: unknown }).tx !== undefined) {
    return Promise.reject(new TypeError('ctx.enqueue in an isolated handler cannot join a transaction (tx): its connection lives in the worker'));
  }
  const call = nextCall++;
  return new Promise((resolve, reject) => {
    calls.set(call, { resolve, reject });
    channel.send({ t: 'enqueue', run, call, func, args, options });
  });
}

async function runTask(handlers: Map<string, TaskHandlerFn>, run: number, task: IsolatedTask): Promise<void> {
  const abort = new RunAbort();
  current = { run, abort };
  const log = {
    debug: (message: string) => channel.send({ t: 'log', run, level: 'debug', message: String(message) }),
    info: (message: string) => channel.send({ t: 'log', run, level: 'info', message: String(message) }),
    warn: (message: string) => channel.send({ t: 'log', run, level: 'warn', message: String(message) }),
    error: (message: string) => channel.send({ t: 'log', run, level: 'error', message: String(message) }),
  };
  const deps = decodeDeps(task.deps);
  const ctx = new RunContext(task.id, task.collection, task.func, task.attempt, abort, log, deps, (f, a, o) => enqueueThroughWorker(run, f, a, o));
  let done: FromIsolate;
  try {
    const handler = handlers.get(task.func);
    if (!handler) throw new TaskBroken(BrokenReason.UnknownTaskFunc, `no handler for ${task.func} in this isolate's handlers files (${boot.handlers.join(', ')})`);
    const value: unknown = await handler(task.args as never, deps, ctx);
    let json: string;
    try {
      json = canonicalJson(value === undefined ? null : value);
    } catch (err) {
      throw new TaskBroken(BrokenReason.InvalidResult, `the handler returned a value that is not JSON: ${(err as Error).message}`);
    }
    done = { t: 'done', run, json, memory: 0 };
  } catch (err) {
    done = { t: 'done', run, error: encodeError(err), memory: 0 };
  }
  current = undefined;
  done.memory = memory();
  channel.send(done);
}

/** An error the handler's own callbacks threw, or a rejection it left unhandled: its task fails, and the isolate, perhaps broken, ends. */
function failCurrentAndExit(origin: string, err: unknown): void {
  const described = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (current) {
    const encoded = encodeError(err instanceof Error ? err : new Error(described));
    encoded.kind = 'other';
    encoded.name = 'HandlerUncaught';
    encoded.message = `${origin} in the handler: ${described}`;
    channel.send({ t: 'done', run: current.run, error: encoded, memory: memory(), last: true });
  } else {
    console.error(`laterz isolate: ${origin} outside any task: ${described}`);
  }
  setImmediate(() => process.exit(70));
}

@Module({ imports: [DiscoveryModule] })
class IsolateHostModule {}

async function main(): Promise<void> {
  process.on('uncaughtException', (err) => failCurrentAndExit('uncaught exception', err));
  process.on('unhandledRejection', (err) => failCurrentAndExit('unhandled rejection', err));
  // A child whose worker is gone has nobody to run for.
  if (!channel.isThread) process.on('disconnect', () => process.exit(0));

  const modules = [];
  for (const file of boot.handlers) modules.push(...pickHandlersModules((await import(pathToFileURL(file).href)) as Record<string, unknown>).modules);
  const app = await NestFactory.createApplicationContext({ module: IsolateHostModule, imports: [DiscoveryModule, ...modules] }, { logger: ['error', 'warn'], abortOnError: false });
  const handlers = new Map<string, TaskHandlerFn>();
  for (const found of discoverTaskHandlers(app.get(DiscoveryService), app.get(MetadataScanner))) {
    if (!found.meta.bulk) handlers.set(found.meta.name, found.run as TaskHandlerFn);
  }
  channel.on((message) => {
    switch (message.t) {
      case 'run':
        void runTask(handlers, message.run, message.task);
        break;
      case 'abort':
        if (current?.run === message.run) {
          const reason = new Error(message.reason.message);
          reason.name = message.reason.name;
          current.abort.abort(reason);
        }
        break;
      case 'enqueued': {
        const call = calls.get(message.call);
        calls.delete(message.call);
        if (message.error) call?.reject(decodeError(message.error));
        else call?.resolve(message.handle!);
        break;
      }
      case 'retire':
        void app.close().finally(() => process.exit(0));
        break;
    }
  });
  channel.send({ t: 'ready', funcs: [...handlers.keys()] });
}

main().catch((err: unknown) => {
  new Logger('laterz isolate').error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  channel.send({ t: 'boot-failed', message: err instanceof Error ? err.message : String(err) });
  setImmediate(() => process.exit(78));
});
