import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { Broker } from '../broker/broker.js';
import { AppConfig } from '../config/app-config.js';
import {
  BulkHandlerFn,
  type HandlerSchedule,
  Isolation,
  ISOLATIONS,
  parseDuration,
  TASK_HANDLER_METADATA,
  TaskHandlerFn,
  TaskHandlerMetadata,
} from './task-handler.decorator.js';
import { resolveRetryPolicy, retryPolicyJson, type ResolvedRetryPolicy, type RetryOverride } from './retry-policy.js';
import { DuplicateTaskHandler, InvalidHandler } from './tasks.errors.js';
import { FailureHooks, ON_TASK_FAILURE_METADATA, type TaskFailureHook } from './failure-hooks.js';

export interface RegisteredFunc {
  name: string;
  version: number;
  queue: string;
  bulk: boolean;
  /** The soft timeout: the signal is aborted and the outcome written. */
  timeoutMs: number;
  /** Where the handler runs. */
  isolation: Isolation;
  /** Isolated: when, from its start, a handler that has not returned is ended by force. */
  hardTimeoutMs: number;
  /** Isolated: the heap limit of its thread or child, MiB (0: Node's default). */
  memoryLimitMb: number;
  priority: number;
  resyncMs?: number;
  logArgs: boolean;
  expireInMs?: number;
  maxQueued?: number;
  /** Its periodic schedule, as declared (checked by the schedules module at boot). */
  schedule?: HandlerSchedule;
  /** Its retry policy, checked, defaults filled in. */
  retry: ResolvedRetryPolicy;
  /** The policy as JSON, as the func catalog records it. */
  retryJson: RetryOverride;
  /** `Class.method`, for messages. */
  owner: string;
  run: TaskHandlerFn | BulkHandlerFn;
}

const FUNC_NAME = /^[A-Za-z0-9_.-]{1,200}$/;

/** A @TaskHandler method found on a provider: its options, `Class.method`, and the method bound to its instance. */
export interface FoundHandler {
  meta: TaskHandlerMetadata;
  owner: string;
  run: TaskHandlerFn | BulkHandlerFn;
}

/** Every method of the providers Nest built, with `Class.method` and its instance. */
function providerMethods(discovery: DiscoveryService, scanner: MetadataScanner): { owner: string; fn: (...args: never[]) => unknown; instance: object }[] {
  const methods: { owner: string; fn: (...args: never[]) => unknown; instance: object }[] = [];
  for (const wrapper of discovery.getProviders()) {
    const instance = wrapper.instance as Record<string, unknown> | undefined;
    if (!instance || typeof instance !== 'object' || wrapper.isAlias) continue;
    const proto = Object.getPrototypeOf(instance) as object;
    for (const method of scanner.getAllMethodNames(proto)) {
      const fn = (proto as Record<string, unknown>)[method];
      if (typeof fn === 'function') methods.push({ owner: `${proto.constructor.name}.${method}`, fn: fn as (...args: never[]) => unknown, instance });
    }
  }
  return methods;
}

/** Every @TaskHandler method of the providers Nest built (the worker's registry, and an isolate's). */
export function discoverTaskHandlers(discovery: DiscoveryService, scanner: MetadataScanner): FoundHandler[] {
  const found: FoundHandler[] = [];
  for (const { owner, fn, instance } of providerMethods(discovery, scanner)) {
    const meta = Reflect.getMetadata(TASK_HANDLER_METADATA, fn) as TaskHandlerMetadata | undefined;
    if (meta) found.push({ meta, owner, run: (fn as unknown as TaskHandlerFn).bind(instance) });
  }
  return found;
}

/** Every @OnTaskFailure method of the providers Nest built (the worker's registry only: hooks run in the worker). */
export function discoverFailureHooks(discovery: DiscoveryService, scanner: MetadataScanner): { owner: string; run: TaskFailureHook }[] {
  return providerMethods(discovery, scanner)
    .filter(({ fn }) => Reflect.getMetadata(ON_TASK_FAILURE_METADATA, fn))
    .map(({ owner, fn, instance }) => ({ owner, run: (fn as unknown as TaskFailureHook).bind(instance) }));
}

/** Every @TaskHandler of the application, found at boot through Nest's DiscoveryService. */
@Injectable()
export class TaskRegistry implements OnModuleInit {
  private readonly logger = new Logger(TaskRegistry.name);
  private readonly funcs = new Map<string, RegisteredFunc>();
  /** The app's @OnTaskFailure methods, found in the same scan as the handlers. */
  readonly failureHooks = new FailureHooks();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly config: AppConfig,
    private readonly broker: Broker,
  ) {}

  onModuleInit(): void {
    for (const found of discoverTaskHandlers(this.discovery, this.scanner)) this.register(found.meta, found.owner, found.run);
    for (const hook of discoverFailureHooks(this.discovery, this.scanner)) this.failureHooks.add(hook.owner, hook.run);
    // Every role publishes (enqueue, retry, dispatch): the broker must know each func's queue group.
    this.broker.registerQueues(this.all().map((f) => ({ func: f.name, queue: f.queue })));
    this.logger.log(`registered ${this.funcs.size} task funcs`);
  }

  /** Registers a handler; two with one name is an error that names both. */
  register(meta: TaskHandlerMetadata, owner: string, run: TaskHandlerFn | BulkHandlerFn): RegisteredFunc {
    const existing = this.funcs.get(meta.name);
    if (existing) throw new DuplicateTaskHandler(meta.name, existing.owner, owner);
    if (!FUNC_NAME.test(meta.name)) throw new InvalidHandler(`${owner}: func name ${JSON.stringify(meta.name)} must be 1-200 letters, digits, _ . -`);
    const version = meta.version ?? 0;
    if (!Number.isInteger(version) || version < 0) throw new InvalidHandler(`${owner}: version must be a whole number >= 0`);
    const priority = meta.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0 || priority > 9) throw new InvalidHandler(`${owner}: priority must be 0-9`);
    const queue = meta.queue ?? 'default';
    if (!FUNC_NAME.test(queue)) throw new InvalidHandler(`${owner}: queue ${JSON.stringify(queue)} must be letters, digits, _ . -`);
    let retry: ResolvedRetryPolicy;
    try {
      retry = resolveRetryPolicy(meta.retry, 'retry');
    } catch (err) {
      throw new InvalidHandler(`${owner}: ${(err as Error).message}`);
    }
    const timeoutMs = meta.timeout === undefined ? this.config.limits.defaultTimeoutMs : parseDuration(meta.timeout, `${owner}: timeout`);
    const func: RegisteredFunc = {
      name: meta.name,
      version,
      queue,
      bulk: meta.bulk ?? false,
      timeoutMs,
      ...this.isolationOf(meta, owner, timeoutMs),
      priority,
      resyncMs: meta.resync === undefined ? undefined : parseDuration(meta.resync, `${owner}: resync`),
      logArgs: meta.logArgs ?? false,
      ...flowOptions(meta, owner),
      retry,
      retryJson: retryPolicyJson(retry),
      owner,
      run,
    };
    this.funcs.set(func.name, func);
    return func;
  }

  /** Where a func's handler runs, its hard timeout and memory limit: checked, with their defaults. */
  private isolationOf(meta: TaskHandlerMetadata, owner: string, timeoutMs: number): Pick<RegisteredFunc, 'isolation' | 'hardTimeoutMs' | 'memoryLimitMb'> {
    if (meta.isolation !== undefined && !ISOLATIONS.includes(meta.isolation as Isolation)) {
      throw new InvalidHandler(`${owner}: isolation must be ${ISOLATIONS.join(', ')} (got ${JSON.stringify(meta.isolation)})`);
    }
    if (meta.bulk && meta.isolation !== undefined && meta.isolation !== 'inline') throw new InvalidHandler(`${owner}: a bulk func runs inline (its batches share one call): isolation ${meta.isolation} is not available`);
    const isolation = meta.bulk ? 'inline' : (meta.isolation ?? this.config.worker.isolation);
    const isolated = isolation !== 'inline';
    if (!isolated && (meta.hardTimeout !== undefined || meta.memoryLimit !== undefined)) {
      throw new InvalidHandler(`${owner}: hardTimeout and memoryLimit need an isolated handler (isolation thread or process): an inline handler cannot be ended by force`);
    }
    const hardTimeoutMs = meta.hardTimeout === undefined ? timeoutMs + this.config.isolate.killGraceMs : parseDuration(meta.hardTimeout, `${owner}: hardTimeout`);
    if (hardTimeoutMs < timeoutMs) throw new InvalidHandler(`${owner}: hardTimeout (${hardTimeoutMs} ms) must be at least timeout (${timeoutMs} ms)`);
    const memoryLimitMb = meta.memoryLimit ?? this.config.isolate.memoryLimitMb;
    if (!Number.isInteger(memoryLimitMb) || memoryLimitMb < 0) throw new InvalidHandler(`${owner}: memoryLimit must be a whole number of MiB`);
    return { isolation, hardTimeoutMs, memoryLimitMb };
  }

  get(name: string): RegisteredFunc | undefined {
    return this.funcs.get(name);
  }

  all(): RegisteredFunc[] {
    return [...this.funcs.values()];
  }

  /** How many funcs are registered. */
  get size(): number {
    return this.funcs.size;
  }

  /** Names of the bulk funcs (never queued: the bulk runner takes them). */
  bulkFuncs(): string[] {
    return this.all()
      .filter((f) => f.bulk)
      .map((f) => f.name);
  }

  /** Current version of a func; undefined for funcs this process does not know. */
  version(name: string): number | undefined {
    return this.funcs.get(name)?.version;
  }
}

/** A handler's expiry, queue cap and schedule options (issue 18), checked. */
function flowOptions(meta: TaskHandlerMetadata, owner: string): Pick<RegisteredFunc, 'expireInMs' | 'maxQueued' | 'schedule'> {
  if (meta.maxQueued !== undefined && (!Number.isSafeInteger(meta.maxQueued) || meta.maxQueued < 0)) {
    throw new InvalidHandler(`${owner}: maxQueued must be a whole number >= 0 (got ${JSON.stringify(meta.maxQueued)})`);
  }
  return {
    ...(meta.expireIn === undefined ? {} : { expireInMs: parseDuration(meta.expireIn, `${owner}: expireIn`) }),
    ...(meta.maxQueued === undefined ? {} : { maxQueued: meta.maxQueued }),
    ...(meta.schedule === undefined ? {} : { schedule: meta.schedule }),
  };
}
