import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TASK_STATUSES, TaskStatus } from '../../tasks/task-status.js';
import { JSON_VALUE_SCHEMA } from '../openapi.js';

// What the task routes answer. Dates are sent as ISO 8601 strings; ids (bigint) as decimal strings.

const ID = { description: 'Task id (decimal string)', example: '42' } as const;
const STATUS = { enum: TASK_STATUSES, enumName: 'TaskStatus' } as const;
const TIME = { type: String, format: 'date-time' } as const;
const TIME_OR_NULL = { ...TIME, nullable: true } as const;
const INT = { type: 'integer' } as const;

/** `POST /api/tasks`, `POST /api/tasks/:id/retry`: the task as the call left it. */
export class TaskHandleResponse {
  @ApiProperty(ID) id: string;
  @ApiProperty() collection: string;
  @ApiProperty() func: string;
  @ApiProperty(STATUS) status: TaskStatus;
  @ApiProperty({ description: 'False when the call found the task already there (get-or-create)' }) created: boolean;
}

/** A task row as lists show it (no args, result nor log). */
export class TaskSummary {
  @ApiProperty(ID) id: string;
  @ApiProperty() collection: string;
  @ApiProperty() func: string;
  @ApiProperty(STATUS) status: string;
  @ApiProperty({ ...INT, description: 'Version of the func it last ran at' }) version: number;
  @ApiProperty({ description: 'Finished at a version other than its func’s current one' }) outdated: boolean;
  @ApiProperty({ description: 'The last error (lists: its first 1000 characters); empty when none' }) error: string;
  @ApiProperty({ description: 'Why it is broken; empty when it is not' }) brokenReason: string;
  @ApiProperty(INT) failCount: number;
  @ApiProperty(INT) attempt: number;
  @ApiProperty(INT) priority: number;
  @ApiProperty({ description: 'Size of its args and result, bytes (decimal string)', example: '120' }) sizeBytes: string;
  @ApiProperty(TIME_OR_NULL) runAfter: Date | null;
  @ApiProperty({ type: String, nullable: true, description: 'The worker of its last attempt' }) worker: string | null;
  @ApiProperty(TIME) dateCreated: Date;
  @ApiProperty(TIME) dateModified: Date;
  @ApiProperty(TIME_OR_NULL) dateStarted: Date | null;
  @ApiProperty(TIME_OR_NULL) dateFinished: Date | null;
}

/** `GET /api/tasks`. */
export class TaskPageResponse {
  @ApiProperty({ type: [TaskSummary] }) items: TaskSummary[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page; null on the last one' }) nextCursor: string | null;
}

/** The attempt of a task whose handler has not returned: the worker holds the task's lock. */
export class TaskRunning {
  @ApiProperty({
    description:
      'True when the task no longer says `started` (its outcome was written at a timeout or a cancel, or it was handed back) while this attempt’s handler, deaf to its abort signal, still runs: the task runs nowhere else until it returns',
  })
  abandoned: boolean;
  @ApiProperty({ ...INT, description: 'The attempt running' }) attempt: number;
  @ApiProperty({ ...TIME, description: 'When it started' }) since: Date;
  @ApiProperty({ type: String, nullable: true, description: 'The worker running it' }) worker: string | null;
}

/** The task of `GET /api/tasks/:id`: the summary with its args (funcs with logArgs only), result and log. */
export class TaskDetail extends TaskSummary {
  @ApiPropertyOptional({ ...JSON_VALUE_SCHEMA, description: 'Its args, for funcs declared with logArgs: true' }) args?: unknown;
  @ApiPropertyOptional({ enum: [true], description: 'Present (true) instead of args for every other func' }) argsRedacted?: boolean;
  @ApiProperty({ ...JSON_VALUE_SCHEMA, description: 'What its handler returned (null before a success)' }) result: unknown;
  @ApiProperty({ description: 'What it logged (capped, the tail kept)' }) log: string;
  @ApiProperty({ type: TaskRunning, nullable: true, description: 'The attempt a worker runs now (its lock held); null when none does' }) running: TaskRunning | null;
}

export class TaskAttempt {
  @ApiProperty(INT) attempt: number;
  @ApiProperty(STATUS) status: string;
  @ApiProperty() brokenReason: string;
  @ApiProperty({ description: 'Its error (without the stack trace, unless the func has logArgs)' }) error: string;
  @ApiProperty({ type: String, nullable: true }) worker: string | null;
  @ApiProperty(TIME_OR_NULL) dateStarted: Date | null;
  @ApiProperty(TIME) dateFinished: Date;
}

/** A dependency (or dependent) of a task: the edge's name and the task at its other end. */
export class TaskEdge {
  @ApiProperty({ description: 'The name its result reaches the dependent under' }) name: string;
  @ApiProperty(ID) id: string;
  @ApiProperty() func: string;
  @ApiProperty(STATUS) status: string;
  @ApiProperty() brokenReason: string;
  @ApiProperty() outdated: boolean;
}

/** `GET /api/tasks/:id`. */
export class TaskInspectionResponse {
  @ApiProperty({ type: TaskDetail }) task: TaskDetail;
  @ApiProperty({ type: [TaskAttempt], description: 'Its failed attempts' }) attempts: TaskAttempt[];
  @ApiProperty({ type: [TaskEdge], description: 'The tasks it waits for (at most 500 shown)' }) dependencies: TaskEdge[];
  @ApiProperty(INT) dependencyCount: number;
  @ApiProperty({ type: [TaskEdge], description: 'The tasks waiting for it (at most 500 shown)' }) dependents: TaskEdge[];
  @ApiProperty(INT) dependentCount: number;
}

export class GraphNode {
  @ApiProperty(ID) id: string;
  @ApiProperty() collection: string;
  @ApiProperty() func: string;
  @ApiProperty(STATUS) status: string;
  @ApiProperty() brokenReason: string;
  @ApiProperty() outdated: boolean;
  @ApiProperty({ ...INT, description: 'Edges from the root: negative towards its inputs, positive towards its dependents' }) level: number;
  @ApiProperty(TIME_OR_NULL) dateStarted: Date | null;
  @ApiProperty(TIME_OR_NULL) dateFinished: Date | null;
}

export class GraphEdge {
  @ApiProperty({ ...ID, description: 'The task depended on' }) prev: string;
  @ApiProperty({ ...ID, description: 'The task that depends on it' }) next: string;
  @ApiProperty() name: string;
}

/** `GET /api/tasks/:id/graph`. */
export class TaskGraphResponse {
  @ApiProperty(ID) root: string;
  @ApiProperty(INT) depth: number;
  @ApiProperty({ description: 'True when the graph had more than 500 nodes within depth' }) truncated: boolean;
  @ApiProperty({ type: [GraphNode] }) nodes: GraphNode[];
  @ApiProperty({ type: [GraphEdge] }) edges: GraphEdge[];
}

export class DurationSeconds {
  @ApiProperty({ type: Number, nullable: true }) avg: number | null;
  @ApiProperty({ type: Number, nullable: true }) p50: number | null;
  @ApiProperty({ type: Number, nullable: true }) p95: number | null;
}

/** `GET /api/tasks/:id/progress`. */
export class TaskProgressResponse {
  @ApiProperty(ID) task: string;
  @ApiProperty({ enum: ['dependencies', 'dependents'] }) of: 'dependencies' | 'dependents';
  @ApiProperty(INT) total: number;
  @ApiProperty(INT) finished: number;
  @ApiProperty(INT) remaining: number;
  @ApiProperty({ description: 'Finished of total, 0-100 (100 when there are none)' }) percent: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, description: 'Tasks by status', example: { success: 3, queued: 1 } })
  byStatus: Record<string, number>;
  @ApiProperty({ type: DurationSeconds, description: 'Run times of the finished ones' }) durationSeconds: DurationSeconds;
  @ApiProperty({ type: Number, nullable: true }) elapsedSeconds: number | null;
  @ApiProperty({ type: Number, nullable: true }) tasksPerSecond: number | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Null while nothing has finished' }) etaSeconds: number | null;
}

/** `POST /api/tasks/:id/cancel`. */
export class CancelOneResponse {
  @ApiProperty(ID) id: string;
  @ApiProperty({ enum: ['broken'] }) status: 'broken';
  @ApiProperty({ enum: ['cancelled'] }) brokenReason: 'cancelled';
  @ApiProperty({ ...STATUS, description: 'Its status before' }) previous: TaskStatus;
}
