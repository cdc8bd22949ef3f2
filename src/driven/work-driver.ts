import { Injectable, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Broker } from '../broker/broker.js';
import { DrivenBroker } from '../broker/driven.broker.js';
import { AppConfig } from '../config/app-config.js';
import { BulkRunnerService } from '../maintenance/bulk/bulk-runner.service.js';
import { DispatcherService } from '../maintenance/dispatch/dispatcher.service.js';
import { DueScanService } from '../maintenance/due/due-scan.service.js';
import { TaskRunner } from '../runner/run/task-runner.js';
import { dependencyId, type DependencyRef, type TaskHandle } from '../tasks/enqueue-request.js';
import type { InlineRuns } from '../tasks/inline-runs.js';
import { TaskRegistry } from '../tasks/task-registry.js';
import type { TaskStatus } from '../tasks/task-status.js';
import { TaskNotFound } from '../tasks/tasks.errors.js';
import { DriverGateway, type TaskSnapshotRow } from './driver.gateway.js';
import { whyWaiting, type WaitingTask } from './waiting.js';

export interface RunUntilIdleOptions {
  /** Rounds (every queued task pulled and run, the bulk runner, the dispatcher, a pull again) before giving up with NotIdle. Default 100. */
  maxRounds?: number;
}

/** What runUntilIdle() came to, once nothing was runnable. */
export interface IdleReport {
  /** Handler runs this call made (each task of a bulk batch counts one). */
  ran: number;
  rounds: number;
  /** Every task of laterz's tables by status (statuses with no task left out). */
  counts: Partial<Record<TaskStatus, number>>;
  /** The tasks neither success nor broken, oldest first (the first 1000), and why each waits. */
  waiting: WaitingTask[];
}

/** A task as a test reads it: its status, result (the handler's return value) or error. */
export interface TaskSnapshot extends Omit<TaskSnapshotRow, 'status'> {
  status: TaskStatus;
}

/** runUntilIdle() gave up: tasks kept becoming runnable for `maxRounds` rounds. */
export class NotIdle extends Error {
  constructor(rounds: number, what: string) {
    super(`not idle after ${rounds} ${what}: tasks keep becoming runnable (a handler that enqueues new tasks without end, or a resync shorter than a round?)`);
    this.name = 'NotIdle';
  }
}

const DEFAULT_MAX_ROUNDS = 100;
const MAX_PULLS_PER_ROUND = 100_000;
const WAITING_LISTED = 1000;

/** The engine's own services a drive calls; found when first needed (see WorkDriver). */
interface Engine {
  runner: TaskRunner;
  dispatcher: DispatcherService;
  bulk: BulkRunnerService;
  due: DueScanService;
}

/**
 * Moves the work in the caller (graphile-worker's runOnce, TaskTiger's ALWAYS_EAGER), through the
 * engine's own services, with no timer and no sleep: a round pulls the queued tasks as the worker's
 * consumer would (claim, run, finish; the finish queues the next tasks, which the next pull takes)
 * until a pull takes nothing, runs the bulk runner and the dispatcher once each (pending tasks due,
 * deferred ones), the due scan (runAfter and retries whose time has come), and pulls again. The rounds end when one changed
 * nothing (every task's status, attempt and fail count as before it). Drives run one at a time.
 * Inline mode: each enqueue of the app drives before it resolves (InlineRuns); a task a running
 * task enqueues is taken by the drive that runs it.
 */
@Injectable()
export class WorkDriver implements InlineRuns {
  private readonly inDrive = new AsyncLocalStorage<true>();
  /** The last drive asked for: the next one starts after it. */
  private last: Promise<unknown> = Promise.resolve();
  private engine?: Engine;
  private readonly broker: DrivenBroker;

  constructor(
    private readonly moduleRef: ModuleRef,
    broker: Broker,
    private readonly gateway: DriverGateway,
    private readonly registry: TaskRegistry,
    private readonly config: AppConfig,
  ) {
    if (!(broker instanceof DrivenBroker)) throw new Error('WorkDriver needs the driven transport (LaterzModule driven by its caller)');
    this.broker = broker;
  }

  /** Runs every runnable task, in rounds, until none is left runnable; see the class comment. */
  runUntilIdle(options: RunUntilIdleOptions = {}): Promise<IdleReport> {
    if (this.inDrive.getStore()) {
      return Promise.reject(new Error('runUntilIdle() was called by a task that runUntilIdle() or an inline enqueue runs: it would wait for itself'));
    }
    return this.serial(() => this.drive(options.maxRounds ?? DEFAULT_MAX_ROUNDS));
  }

  async afterEnqueue(handles: TaskHandle[]): Promise<TaskHandle[]> {
    // Enqueued by a running task: the drive it runs in takes the new tasks at its next pull.
    if (this.inDrive.getStore() || handles.length === 0) return handles;
    await this.serial(() => this.drive(DEFAULT_MAX_ROUNDS));
    const statuses = await this.gateway.statusesOf(handles.map((h) => h.id));
    return handles.map((h) => ({ ...h, status: (statuses.get(h.id) as TaskStatus | undefined) ?? h.status }));
  }

  /** The task `ref` (an id or a handle) as it is now; TaskNotFound when there is none. */
  async task(ref: DependencyRef): Promise<TaskSnapshot> {
    const id = dependencyId(ref);
    const row = await this.gateway.task(id);
    if (!row) throw new TaskNotFound(id);
    return { ...row, status: row.status as TaskStatus };
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.last.then(work);
    this.last = next.catch(() => undefined);
    return next;
  }

  private drive(maxRounds: number): Promise<IdleReport> {
    return this.inDrive.run(true, async () => {
      const { runner, dispatcher, bulk, due } = this.parts();
      const start = await this.gateway.fingerprint();
      let before = start;
      for (let round = 1; ; round++) {
        await this.pullAll(runner);
        await bulk.runOnce();
        await due.runOnce();
        await dispatcher.runOnce();
        await this.pullAll(runner);
        const after = await this.gateway.fingerprint();
        if (after.fingerprint === before.fingerprint) return this.report(after.attempts - start.attempts, round);
        if (round >= maxRounds) throw new NotIdle(round, 'rounds');
        before = after;
      }
    });
  }

  /** Pulls queued tasks (a batch at a time, each run to its finish) until a pull takes none. */
  private async pullAll(runner: TaskRunner): Promise<void> {
    for (let pulls = 1; ; pulls++) {
      const taken = await this.broker.pull();
      await runner.settled();
      if (taken === 0) return;
      if (pulls >= MAX_PULLS_PER_ROUND) throw new NotIdle(pulls, 'pulls of one round');
    }
  }

  private async report(ran: number, rounds: number): Promise<IdleReport> {
    const counts: IdleReport['counts'] = {};
    for (const { status, count } of await this.gateway.countsByStatus()) counts[status as TaskStatus] = count;
    const context = { served: new Set(this.registry.all().map((f) => f.name)), tiers: this.config.dispatch.retryTiers, now: new Date() };
    const waiting = (await this.gateway.unfinished(WAITING_LISTED)).map((row) => whyWaiting(row, context));
    return { ran, rounds, counts, waiting };
  }

  /**
   * The runner, dispatcher and bulk runner, looked up rather than injected: in inline mode the
   * runner reaches this driver back (its executor's TasksService calls InlineRuns), a cycle the
   * injector refuses.
   */
  private parts(): Engine {
    const find = <T>(type: Type<T>): T => this.moduleRef.get(type, { strict: false });
    return (this.engine ??= { runner: find(TaskRunner), dispatcher: find(DispatcherService), bulk: find(BulkRunnerService), due: find(DueScanService) });
  }
}
