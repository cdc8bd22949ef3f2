import type { DeleteTaskBody } from './dto/schedules.dto.js';
import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import type { Executor } from '../tasks/executor.js';
import { TaskAdminService } from '../tasks/task-admin.service.js';
import { TaskFilter } from '../tasks/task-filter.js';
import { CANCELLABLE_STATUSES, PURGEABLE_STATUSES, TaskId, TaskStatus } from '../tasks/task-status.js';
import { TasksService } from '../tasks/tasks.service.js';
import { CancelByFilterBody, FilterFields, PurgeQuery, RetryByFilterBody } from './dto/task-filter.dto.js';
import { EnqueueTaskBody } from './dto/enqueue-task.dto.js';
import { ADMIN_EXECUTOR } from './admin-pool.js';

const DEFAULT_RETRY_STATUSES: readonly TaskStatus[] = [TaskStatus.Error, TaskStatus.Broken];

type FilterInput = FilterFields & { status?: TaskStatus[]; modifiedBefore?: string; olderThanSeconds?: number };

/**
 * The API's mutations: each calls the engine on the admin pool, caps what a filter may touch at
 * ADMIN_MAX_ROWS_PER_CALL, and leaves an audit row in the same transaction as the change (both
 * commit or neither). A call that changes nothing leaves none. Returns plain results; the
 * controllers decide the HTTP status.
 */
@Injectable()
export class TaskActions {
  private readonly limit: number;

  constructor(
    private readonly tasks: TasksService,
    private readonly admin: TaskAdminService,
    private readonly audit: AuditService,
    @Inject(ADMIN_EXECUTOR) private readonly on: Executor,
    config: AppConfig,
  ) {
    this.limit = config.admin.maxRowsPerCall;
  }

  async enqueue(body: EnqueueTaskBody, who: string) {
    const request = {
      func: body.func,
      args: body.args,
      collection: body.collection,
      dependsOn: body.dependsOn,
      priority: body.priority,
      runAfter: body.runAfter === undefined ? undefined : new Date(body.runAfter),
      expiresAt: body.expiresAt === undefined ? undefined : new Date(body.expiresAt),
      expireIn: body.expireIn,
      queueNow: body.queueNow,
      retry: body.retry,
      retryPolicy: body.retryPolicy,
    };
    const [handle] = await this.tasks.enqueueVia(this.on, [request], (tx, [h]) =>
      this.audit.record({ who, action: 'task.enqueue', target: { taskId: h.id, func: h.func, collection: h.collection, created: h.created }, count: 1 }, tx),
    );
    return handle;
  }

  /** Deletes one task by identity; TaskHasDependents / TaskRunning (409), TaskNotFound (404). */
  async deleteOne(body: DeleteTaskBody, who: string) {
    return this.tasks.deleteTask(body.func, body.args, {
      collection: body.collection,
      on: this.on,
      within: (tx, d) => this.audit.record({ who, action: 'task.delete', target: { taskId: d.id, func: d.func, collection: d.collection, status: d.status }, count: 1 }, tx),
    });
  }

  /** Retries one task; TaskRunning (409) while it runs, TaskNotFound (404). */
  async retryOne(id: TaskId, who: string, resetFailCount = false) {
    return this.tasks.retryTask(id, {
      resetFailCount,
      on: this.on,
      within: (tx) => this.audit.record({ who, action: 'task.retry', target: { taskId: id }, count: 1 }, tx),
    });
  }

  /** Changes a waiting task's time; TaskNotWaiting (409), TaskNotFound (404). */
  async reschedule(id: TaskId, runAfter: Date, who: string) {
    return this.tasks.reschedule(id, runAfter, {
      on: this.on,
      within: (tx) => this.audit.record({ who, action: 'task.reschedule', target: { taskId: id, runAfter: runAfter.toISOString() }, count: 1 }, tx),
    });
  }

  /** Removes a waiting task; TaskNotWaiting or TaskHasDependents (409), TaskNotFound (404). */
  async removeWaiting(id: TaskId, who: string) {
    return this.tasks.removeWaiting(id, {
      on: this.on,
      within: (tx) => this.audit.record({ who, action: 'task.remove', target: { taskId: id }, count: 1 }, tx),
    });
  }

  async retryByFilter(body: RetryByFilterBody, who: string) {
    const filter = await this.toFilter(body, DEFAULT_RETRY_STATUSES);
    if (body.dryRun) return this.dryRun(await this.admin.countRetryable(filter, this.on));
    const { reset, queued } = await this.admin.retryTasks(filter, this.limit, {
      resetFailCount: body.resetFailCount,
      on: this.on,
      within: (tx, n) =>
        n > 0 ? this.audit.record({ who, action: 'tasks.retry', target: { filter: describeFilter(body, filter) }, count: n }, tx) : Promise.resolve(),
    });
    return { reset, queued, remaining: await this.admin.countRetryable(filter, this.on), limit: this.limit };
  }

  /** Cancels one task; `cancelled: false` when it had already finished. */
  async cancelOne(id: TaskId, who: string) {
    return this.admin.cancelTask(id, {
      on: this.on,
      within: (tx, n) => (n > 0 ? this.audit.record({ who, action: 'task.cancel', target: { taskId: id }, count: n }, tx) : Promise.resolve()),
    });
  }

  async cancelByFilter(body: CancelByFilterBody, who: string) {
    const filter = await this.toFilter(body, CANCELLABLE_STATUSES);
    if (body.dryRun) return this.dryRun(await this.admin.countCancellable(filter, this.on));
    const { cancelled, remaining } = await this.admin.cancelTasks(filter, this.limit, {
      on: this.on,
      within: (tx, n) =>
        n > 0 ? this.audit.record({ who, action: 'tasks.cancel', target: { filter: describeFilter(body, filter) }, count: n }, tx) : Promise.resolve(),
    });
    return { cancelled, remaining, limit: this.limit };
  }

  async purge(query: PurgeQuery, who: string) {
    const filter = await this.toFilter(query, PURGEABLE_STATUSES);
    if (query.dryRun) return this.dryRun(await this.admin.countPurgeable(filter, this.on));
    const { deleted, remaining } = await this.admin.purge(filter, this.limit, {
      on: this.on,
      within: (tx, n) =>
        n > 0 ? this.audit.record({ who, action: 'tasks.purge', target: { filter: describeFilter(query, filter) }, count: n }, tx) : Promise.resolve(),
    });
    return { deleted, remaining, limit: this.limit };
  }

  private dryRun(matching: number) {
    return { dryRun: true, matching, wouldChange: Math.min(matching, this.limit), limit: this.limit };
  }

  /** The engine's filter; "older than N seconds" is resolved by the database's clock. */
  private async toFilter(input: FilterInput, defaultStatuses: readonly TaskStatus[]): Promise<TaskFilter> {
    const dates: Date[] = [];
    if (input.modifiedBefore != null) dates.push(new Date(input.modifiedBefore));
    if (input.olderThanSeconds != null) dates.push(await this.admin.secondsAgo(input.olderThanSeconds, this.on));
    return {
      collection: input.collection ?? undefined,
      func: input.func ?? undefined,
      brokenReason: input.brokenReason ?? undefined,
      errorContains: input.errorContains ?? undefined,
      status: input.status != null && input.status.length > 0 ? input.status : [...defaultStatuses],
      modifiedBefore: dates.length > 0 ? new Date(Math.min(...dates.map((d) => d.getTime()))) : undefined,
    };
  }
}

/** The filter as the audit row records it: what the operator asked, resolved. */
function describeFilter(input: FilterInput, filter: TaskFilter): Record<string, unknown> {
  const out: Record<string, unknown> = {
    collection: filter.collection,
    func: filter.func,
    status: filter.status,
    brokenReason: filter.brokenReason,
    errorContains: filter.errorContains,
    modifiedBefore: filter.modifiedBefore?.toISOString(),
    olderThanSeconds: input.olderThanSeconds ?? undefined,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}
