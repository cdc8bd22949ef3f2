import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import type { BulkHandlerFn, TaskHandlerFn } from '../../tasks/task-handler.decorator.js';
import { RegisteredFunc, TaskRegistry } from '../../tasks/task-registry.js';
import { TaskStatus } from '../../tasks/task-status.js';
import { TaskBroken } from '../../tasks/tasks.errors.js';
import { TasksService } from '../../tasks/tasks.service.js';
import type { ClaimedTask } from '../claim/claim-decisions.js';
import { TaskFinisher } from '../finish/task-finisher.js';
import { IsolatePool } from '../isolation/isolate-pool.js';
import { HandlerGuard } from './handler-guard.js';
import type { GuardedAbort } from './run-abort.js';
import { echoTo, LogBuffer, RunContext } from './run-context.js';
import { failureOutcome, Outcome, successOutcome } from './task-outcome.js';

/**
 * Runs one claimed task, outside any transaction: its context (logger, signal, dependencies,
 * enqueue), the handler under the guard and the run's abort, the outcome, and its finish.
 */
@Injectable()
export class TaskExecutor {
  // Task lines (the handler's own log, its failures) keep the runner's name in the process log.
  private readonly logger = new Logger('TaskRunner');

  constructor(
    private readonly registry: TaskRegistry,
    private readonly tasks: TasksService,
    private readonly finisher: TaskFinisher,
    private readonly guard: HandlerGuard,
    private readonly config: AppConfig,
    private readonly isolates: IsolatePool,
  ) {}

  /** The func's timeout. */
  timeoutMs(task: ClaimedTask): number {
    return this.registry.get(task.func)!.timeoutMs;
  }

  /**
   * Runs `task` to its finish; resolves with the status its outcome wrote, or undefined when none
   * did (a stale attempt, a run handed back or re-queued for a dependency). An aborted run resolves
   * as soon as its outcome is written, its handler perhaps still running (`abort.handlerRunning`).
   */
  async execute(task: ClaimedTask, abort: GuardedAbort): Promise<TaskStatus | undefined> {
    const func = this.registry.get(task.func)!;
    const echo = echoTo(this.logger, { taskId: task.id, func: task.func, attempt: task.attempt });
    // Set once the run is being finished: a handler that goes on after it (timed out, cancelled)
    // still logs to the process, but its row is no longer its own to write (it would be watched,
    // and flushed in vain, every second until the process ends).
    let ended = false;
    const log = new LogBuffer(this.config.limits.logBytes, (level, message) => {
      echo(level, message);
      if (!ended) this.finisher.logWritten(task, log);
    });
    let outcome: Outcome;
    try {
      const ctx = new RunContext(task.id, task.collection, task.func, task.attempt, abort, log, task.deps, (f, a, o) => this.tasks.enqueue(f, a, o));
      // Under the guard: a process.exit, or an error thrown outside the handler's promise chain,
      // fails this run instead of the process (and every task running beside it).
      const value = await abort.race(this.guard.run(abort, () => this.call(func, task, ctx, abort)));
      outcome = successOutcome(value, this.config.limits.resultBytes);
    } catch (err) {
      outcome = failureOutcome(err, abort);
    }
    if (outcome.kind === 'final' && outcome.status !== TaskStatus.Success) {
      // The task's error, never its args (a message of the handler's own may still quote them).
      const { status, reason, error } = outcome;
      this.logger.warn({ msg: `task ${task.id} (${task.func}) attempt ${task.attempt} failed: ${status}`, taskId: task.id, func: task.func, attempt: task.attempt, status, reason: reason || undefined, error });
    }
    ended = true;
    // A handler still running (aborted, deaf to its signal) keeps its task's lock: the outcome is
    // written now, and the runner releases the lock once the handler has returned.
    const landed = await this.finisher.finish(task, outcome, log.text(), abort.handlerRunning);
    return landed && outcome.kind === 'final' ? outcome.status : undefined;
  }

  /**
   * The handler's own return value or promise, not wrapped in an async function's: the guard's
   * run frame awaits it directly (the async stack trace that finds the run follows `await`).
   */
  private call(func: RegisteredFunc, task: ClaimedTask, ctx: RunContext, abort: GuardedAbort): unknown {
    // An isolated handler: its ctx lives in the isolate; its log lines and enqueues come back through ctx's.
    if (func.isolation !== 'inline') return this.isolates.run(func, task, abort, { log: ctx.logger, enqueue: (f, a, o) => this.tasks.enqueue(f, a, o) });
    if (!func.bulk) return (func.run as TaskHandlerFn)(task.args as never, task.deps, ctx);
    return this.callBulk(func, task, ctx);
  }

  /** A bulk task delivered one by one (e.g. retried by hand): a batch of one. */
  private async callBulk(func: RegisteredFunc, task: ClaimedTask, ctx: RunContext): Promise<null> {
    const results = await (func.run as BulkHandlerFn)(
      [{ id: task.id, collection: task.collection, func: task.func, args: task.args, sizeBytes: task.sizeBytes }],
      { collection: task.collection, func: task.func, signal: ctx.signal, logger: ctx.logger },
    );
    if (results.get(task.id) !== true) throw new TaskBroken('bulk_item_failed', 'the bulk handler did not report this task as done');
    return null;
  }
}
