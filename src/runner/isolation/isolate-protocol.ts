import { DependencyBroken, ExtraDependency, MissingDependency, TaskBroken, TaskError } from '../../tasks/tasks.errors.js';
import { RetryLater } from '../../tasks/retry-policy.js';
import type { LogLevel } from '../run/run-context.js';

/**
 * The messages between a worker and the isolate (worker thread or child process) that runs one
 * handler at a time for it. Everything travels by structured clone (a child's channel uses
 * `serialization: 'advanced'`); errors and broken dependencies as the plain shapes below.
 */

/** What a starting isolate is given: the handlers files to boot (absolute paths of compiled modules). */
export interface IsolateBoot {
  handlers: string[];
}

/** The task an isolate runs: what a handler gets, deps encoded. */
export interface IsolatedTask {
  id: string;
  collection: string;
  func: string;
  attempt: number;
  args: unknown;
  deps: EncodedDep[];
}

/** A parent's result, or the DependencyBroken a broken parent gives its children. */
export type EncodedDep = { name: string; value: unknown } | { name: string; broken: { reason: string; parentError: string } };

/** An error as it crosses: the classes the worker's outcome tells apart keep their class. */
export interface EncodedError {
  kind: 'broken' | 'dependency-broken' | 'task-error' | 'retry-later' | 'missing' | 'extra' | 'other';
  name: string;
  message: string;
  stack?: string;
  code?: string;
  reason?: string;
  details?: unknown;
  dependency?: string;
  prevId?: string;
  parentError?: string;
  delayMs?: number;
}

/** The TasksService methods an isolate's handlers and providers call through the worker. */
export const WORKER_CALLS = ['enqueue', 'enqueueMany', 'get'] as const;
export type WorkerCall = (typeof WORKER_CALLS)[number];

export type ToIsolate =
  | { t: 'run'; run: number; task: IsolatedTask }
  | { t: 'abort'; run: number; reason: { name: string; message: string } }
  | { t: 'answer'; call: number; value?: unknown; error?: EncodedError }
  | { t: 'retire' };

export type FromIsolate =
  | { t: 'ready'; funcs: string[] }
  | { t: 'boot-failed'; message: string }
  | { t: 'log'; run: number; level: LogLevel; message: string }
  /** A TasksService call (ctx.enqueue, an injected TasksService), answered by the worker. */
  | { t: 'call'; call: number; method: WorkerCall; args: unknown[] }
  /**
   * A run's end: its result as canonical JSON, or its error; `memory`: the isolate's own measure
   * after it, bytes; `last`: the isolate is ending (the handler left it broken), give it no task.
   */
  | { t: 'done'; run: number; json?: string; error?: EncodedError; memory: number; last?: boolean };

/** Encodes what a handler threw (or a value it threw that is no Error). */
export function encodeError(err: unknown): EncodedError {
  if (!(err instanceof Error)) return { kind: 'other', name: 'Error', message: `thrown value: ${safeJson(err)}` };
  const base = { name: err.name, message: err.message, stack: err.stack };
  const code = (err as { code?: unknown }).code;
  if (err instanceof DependencyBroken) return { ...base, kind: 'dependency-broken', reason: err.reason, dependency: err.dependency, parentError: err.parentError };
  if (err instanceof TaskBroken) return { ...base, kind: 'broken', reason: err.reason };
  if (err instanceof TaskError) return { ...base, kind: 'task-error', details: cloneable(err.details) };
  if (err instanceof RetryLater) return { ...base, kind: 'retry-later', delayMs: err.delayMs };
  if (err instanceof MissingDependency) return { ...base, kind: 'missing', dependency: err.dependency, prevId: err.prevId };
  if (err instanceof ExtraDependency) return { ...base, kind: 'extra', dependency: err.dependency };
  return { ...base, kind: 'other', code: typeof code === 'string' ? code : undefined };
}

/** The error `encodeError` encoded, of its class again, with the isolate's stack. */
export function decodeError(e: EncodedError): Error {
  let err: Error;
  switch (e.kind) {
    case 'dependency-broken':
      err = new DependencyBroken(e.dependency ?? '', e.reason ?? '', e.parentError ?? '');
      break;
    case 'broken':
      err = new TaskBroken(e.reason ?? '', e.message);
      break;
    case 'task-error':
      err = new TaskError(e.message, e.details);
      break;
    case 'retry-later':
      err = new RetryLater(e.delayMs ?? 0, e.message);
      break;
    case 'missing':
      err = new MissingDependency(e.dependency ?? '', e.prevId ?? '');
      break;
    case 'extra':
      err = new ExtraDependency(e.dependency ?? '');
      break;
    case 'other':
      err = new Error(e.message);
      err.name = e.name;
      if (e.code !== undefined) (err as NodeJS.ErrnoException).code = e.code;
      break;
  }
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** A task's deps for the trip: DependencyBroken values as their fields. */
export function encodeDeps(deps: Readonly<Record<string, unknown>>): EncodedDep[] {
  return Object.entries(deps).map(([name, value]) =>
    value instanceof DependencyBroken ? { name, broken: { reason: value.reason, parentError: value.parentError } } : { name, value },
  );
}

export function decodeDeps(encoded: readonly EncodedDep[]): Record<string, unknown> {
  const deps: Record<string, unknown> = {};
  for (const dep of encoded) deps[dep.name] = 'broken' in dep ? new DependencyBroken(dep.name, dep.broken.reason, dep.broken.parentError) : dep.value;
  return deps;
}

/** TaskError details are the handler's: what structured clone cannot carry travels as JSON, or as its text. */
function cloneable(value: unknown): unknown {
  try {
    structuredClone(value);
    return value;
  } catch {
    return safeJson(value);
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return String(value);
  }
}
