/**
 * laterz's public surface: what an application built on the engine imports (the reference
 * pipeline under examples/ imports nothing else). Everything not exported here is internal.
 */
export { bootstrap, type Running } from './bootstrap.js';
export { LaterzModule, type LaterzAsyncOptions, type LaterzFactoryOptions } from './laterz.module.js';
export {
  InvalidLaterzOptions,
  type LaterzApiOptions,
  type LaterzApiToken,
  type LaterzOptions,
  type LaterzSettingName,
} from './config/laterz-options.js';
export type { Role } from './config/env.schema.js';
export { AppConfig } from './config/app-config.js';
export { DATABASE_URL } from './database/database.module.js';
export { runMigrationChain } from './database/migrate.js';

export { TasksModule } from './tasks/tasks.module.js';
export { TasksService, type DeletedTask, type TaskState } from './tasks/tasks.service.js';
export type { CallerTransaction, DependencyRef, EnqueueOptions, EnqueueRequest, InTransaction, TaskHandle } from './tasks/enqueue-request.js';
export { TaskRegistry, type RegisteredFunc } from './tasks/task-registry.js';
export { TaskHandler, type HandlerSchedule, type TaskHandlerOptions } from './tasks/task-handler.decorator.js';
export { OnTaskFailure, type TaskFailure } from './tasks/failure-hooks.js';
export { RetryLater, TIERS_RETRY, type Backoff, type BackoffFunction, type ErrorClass, type RetryOverride, type RetryPolicy } from './tasks/retry-policy.js';
export type { BulkContext, BulkTask, TaskContext, TaskLogger } from './tasks/task-context.js';
export { BrokenReason, FINISHED_STATUSES, TaskStatus, type TaskId } from './tasks/task-status.js';
export {
  ArgsTooLarge,
  CrossCollectionDependency,
  DependencyBroken,
  DependencyCycle,
  InvalidArgs,
  InvalidCollection,
  LaterzError,
  type LaterzErrorCode,
  NotInTransaction,
  QueueFull,
  TaskBroken,
  TaskError,
  TaskHasDependents,
  TaskNotFound,
  TaskNotWaiting,
  UnknownFunc,
} from './tasks/tasks.errors.js';

/** Testing your handlers: a test app moved by your test (runUntilIdle), or inline. */
export { LaterzTesting, type LaterzTestingApp, type LaterzTestingOptions } from './laterz-testing.js';
export { NotIdle, type IdleReport, type RunUntilIdleOptions, type TaskSnapshot } from './driven/work-driver.js';
export type { WaitingTask, WaitReason } from './driven/waiting.js';

/** Periodic schedules added and removed at run time (declared ones: @TaskHandler's `schedule`). */
export { SchedulesModule } from './schedules/schedules.module.js';
export { SchedulesService, type ScheduleCallOptions, type ScheduleView } from './schedules/schedules.service.js';
export type { ScheduleDefinition } from './schedules/schedule-definition.js';
export { InvalidSchedule, ScheduleNotFound } from './schedules/schedules.errors.js';

export { CollectionsModule } from './collections/collections.module.js';
export { CollectionsService } from './collections/collections.service.js';

/** For an app's own API routes: the token guard's OpenAPI mark. */
export { ApiGuarded } from './admin/openapi.js';
