import { Body, ConflictException, Controller, Delete, Get, HttpCode, HttpStatus, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { principalName } from './admin-tokens.js';
import type { Principal } from './admin-tokens.js';
import { assertMay, CurrentPrincipal, RequiresRole } from './auth.guard.js';
import { BodyOptional } from './body-policy.interceptor.js';
import { EnqueueTaskBody } from './dto/enqueue-task.dto.js';
import { DeletedTaskResponse, DeleteTaskBody } from './dto/schedules.dto.js';
import { ListTasksQuery } from './dto/list-tasks.dto.js';
import { CancelByFilterBody, PurgeQuery, RetryByFilterBody } from './dto/task-filter.dto.js';
import { TaskIdParams } from './dto/task-params.dto.js';
import { GraphQuery, ProgressQuery } from './dto/task-views.dto.js';
import { TaskActions } from './task-actions.service.js';
import { TaskQueries } from './task-queries.service.js';
import { NoParams, validationFailed } from './validation.pipe.js';
import { RetryOneBody } from './dto/retry-one.dto.js';
import { RemovedResponse, RescheduleBody, RescheduledResponse } from './dto/schedule.dto.js';
import { CancelByFilterResponse, DryRunResponse, PurgeResponse, RetryByFilterResponse } from './dto/filter-responses.dto.js';
import {
  CancelOneResponse,
  TaskGraphResponse,
  TaskHandleResponse,
  TaskInspectionResponse,
  TaskPageResponse,
  TaskProgressResponse,
} from './dto/task-responses.dto.js';
import { ApiGuarded, ApiOkOneOf } from './openapi.js';

const FILTER_FIELDS = ['collection', 'func', 'status', 'brokenReason', 'errorContains', 'modifiedBefore', 'olderThanSeconds'] as const;

@ApiTags('tasks')
@ApiGuarded()
@Controller('api/tasks')
export class TasksController {
  constructor(
    private readonly queries: TaskQueries,
    private readonly actions: TaskActions,
  ) {}

  @Get()
  @ApiOperation({ summary: 'List and search tasks (cursor pagination, at most 100 a page)' })
  @ApiOkResponse({ type: TaskPageResponse })
  list(@Query() query: ListTasksQuery): Promise<TaskPageResponse> {
    return this.queries.list(query);
  }

  @Post()
  @RequiresRole('enqueuer')
  @ApiOperation({
    summary: 'Enqueue a task (get-or-create: the same func and args in a collection is one task)',
    description: 'An enqueuer token is enough (an operator token too); a viewer token gets 403. `retry: true` re-runs a finished task: like the retry routes, it needs an operator token.',
  })
  @ApiCreatedResponse({ type: TaskHandleResponse, description: 'The task, created or found' })
  enqueue(@Body() body: EnqueueTaskBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<TaskHandleResponse> {
    // A retry by another route: an enqueuer may not (its token gets 403 on the retry routes).
    if (body.retry === true) assertMay(who, 'operator', 'retry: true');
    return this.actions.enqueue(body, principalName(who));
  }

  @Post('retry')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Retry tasks by filter (default statuses error, broken); dryRun only counts; at most ADMIN_MAX_ROWS_PER_CALL per call',
    description: 'The body is required: `{}` retries every failed task of every collection, on purpose; a request without a body is refused.',
  })
  @ApiOkOneOf('What the call retried, or (dryRun) what it would', RetryByFilterResponse, DryRunResponse)
  retryByFilter(@Body() body: RetryByFilterBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<RetryByFilterResponse | DryRunResponse> {
    return this.actions.retryByFilter(body, principalName(who));
  }

  @Post('cancel')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Cancel unfinished tasks by filter (at least one filter field); at most ADMIN_MAX_ROWS_PER_CALL per call' })
  @ApiOkOneOf('What the call cancelled, or (dryRun) what it would', CancelByFilterResponse, DryRunResponse)
  cancelByFilter(@Body() body: CancelByFilterBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<CancelByFilterResponse | DryRunResponse> {
    if (!FILTER_FIELDS.some((f) => body[f] != null)) {
      throw validationFailed([{ field: 'filter', message: `a cancel by filter needs at least one of ${FILTER_FIELDS.join(', ')}` }]);
    }
    return this.actions.cancelByFilter(body, principalName(who));
  }

  @Post('delete')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Delete one task by identity (func, args, collection) that no task depends on: 409 when some do or while it runs, 404 when there is none' })
  @ApiOkResponse({ type: DeletedTaskResponse, description: 'The task deleted, with the status it had' })
  deleteOne(@Body() body: DeleteTaskBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<DeletedTaskResponse> {
    return this.actions.deleteOne(body, principalName(who));
  }

  @Delete()
  @ApiOperation({ summary: 'Purge tasks in error or broken older than a date, by filter; tasks others depend on are kept' })
  @ApiOkOneOf('What the call deleted, or (dryRun) what it would', PurgeResponse, DryRunResponse)
  purge(@Query() query: PurgeQuery, @CurrentPrincipal() who: Principal): Promise<PurgeResponse | DryRunResponse> {
    return this.actions.purge(query, principalName(who));
  }

  @Get(':id')
  @ApiOperation({ summary: 'Inspect a task: row, failed attempts, dependencies both ways, result, log' })
  @ApiOkResponse({ type: TaskInspectionResponse })
  inspect(@Param() params: TaskIdParams, @Query(NoParams) _query: unknown): Promise<TaskInspectionResponse> {
    return this.queries.inspect(params.id);
  }

  @Get(':id/graph')
  @ApiOperation({ summary: 'The DAG around a task, up to depth edges each way' })
  @ApiOkResponse({ type: TaskGraphResponse })
  graph(@Param() params: TaskIdParams, @Query() query: GraphQuery): Promise<TaskGraphResponse> {
    return this.queries.graph(params.id, query.depth);
  }

  @Get(':id/progress')
  @ApiOperation({ summary: 'Progress over the subtasks a task waits for (or its dependents): counts by status, durations, ETA' })
  @ApiOkResponse({ type: TaskProgressResponse })
  progress(@Param() params: TaskIdParams, @Query() query: ProgressQuery): Promise<TaskProgressResponse> {
    return this.queries.progress(params.id, query.of);
  }

  @Post(':id/retry')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Retry one task (409 while it runs)' })
  @BodyOptional(RetryOneBody)
  @ApiOkResponse({ type: TaskHandleResponse, description: 'The task, queued again' })
  retry(@Param() params: TaskIdParams, @Body() body: RetryOneBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<TaskHandleResponse> {
    return this.actions.retryOne(params.id, principalName(who), body.resetFailCount);
  }

  @Patch(':id/run-after')
  @ApiOperation({ summary: 'Change when a waiting task runs (pending, or failed and waiting for its retry); 409 otherwise' })
  @ApiOkResponse({ type: RescheduledResponse })
  reschedule(@Param() params: TaskIdParams, @Body() body: RescheduleBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<RescheduledResponse> {
    return this.actions.reschedule(params.id, new Date(body.runAfter), principalName(who));
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Remove a waiting task (pending, or failed and waiting for its retry) that no task depends on; 409 otherwise' })
  @ApiOkResponse({ type: RemovedResponse })
  async remove(@Param() params: TaskIdParams, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<RemovedResponse> {
    return { ...(await this.actions.removeWaiting(params.id, principalName(who))), removed: true };
  }

  @Post(':id/cancel')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Cancel a task: broken / cancelled; a running attempt is aborted (409 if it has finished)' })
  @ApiOkResponse({ type: CancelOneResponse })
  async cancel(@Param() params: TaskIdParams, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<CancelOneResponse> {
    const result = await this.actions.cancelOne(params.id, principalName(who));
    if (!result.cancelled) throw new ConflictException(`task ${params.id} has already finished (${result.previous}); there is nothing to cancel`);
    return { id: params.id, status: 'broken', brokenReason: 'cancelled', previous: result.previous };
  }
}
