import { ApiProperty } from '@nestjs/swagger';

// What the queues, collections and audit routes answer. Dates are sent as ISO 8601 strings.

const TIME = { type: String, format: 'date-time' } as const;
const TIME_OR_NULL = { ...TIME, nullable: true } as const;
const COUNTS_BY_STATUS = { type: 'object', additionalProperties: { type: 'integer' }, example: { queued: 12, success: 3400 } } as const;

export class BrokerDepth {
  @ApiProperty({ type: 'integer' }) ready: number;
  @ApiProperty({ type: 'integer' }) unacked: number;
}

/** A live process serving a func. */
export class FuncServerView {
  @ApiProperty({ description: '`host:pid:bootid` of the process', example: 'worker-7:41:9f3a0c12' }) server: string;
  @ApiProperty({ type: 'integer', description: 'Its version of the func' }) version: number;
  @ApiProperty({ ...TIME, description: 'Its last heartbeat (FUNC_HEARTBEAT_SECONDS)' }) lastSeen: Date;
}

/** One func: known (its queue, current version and live servers) or only found in the table (nulls). */
export class FuncQueue {
  @ApiProperty() func: string;
  @ApiProperty({ type: String, nullable: true, description: 'Its queue group; null for a func neither this process nor the database knows' }) queue: string | null;
  @ApiProperty({ description: 'Run by the bulk runner (no broker queue)' }) bulk: boolean;
  @ApiProperty({ type: 'integer', nullable: true, description: 'Its current version: the highest among its live servers, else the last recorded' }) version: number | null;
  @ApiProperty({ description: 'A live server runs it; false: its waiting tasks wait until one does' }) served: boolean;
  @ApiProperty({ type: [FuncServerView], description: 'The live processes serving it' }) servers: FuncServerView[];
  @ApiProperty({ type: String, nullable: true, description: 'The broker queue it is delivered on' }) brokerQueue: string | null;
  @ApiProperty({ type: BrokerDepth, nullable: true, description: 'Null when the broker could not say (or for bulk funcs)' }) broker: BrokerDepth | null;
  @ApiProperty({ ...COUNTS_BY_STATUS, description: 'Its tasks by status' }) database: Record<string, number>;
}

/** `GET /api/queues`. */
export class QueuesResponse {
  @ApiProperty({ enum: ['postgres', 'amqp'] }) transport: 'postgres' | 'amqp';
  @ApiProperty({ type: [FuncQueue] }) funcs: FuncQueue[];
}

/** A collection with its flags and the stats the stats job last saved. */
export class CollectionView {
  @ApiProperty() name: string;
  @ApiProperty({ description: "Run this collection's tasks at all" }) process: boolean;
  @ApiProperty({ description: 'Re-run its periodic tasks' }) sync: boolean;
  @ApiProperty(TIME) created: Date;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, description: 'Null before the stats job first ran' }) stats: Record<string, unknown> | null;
  @ApiProperty(TIME_OR_NULL) statsComputedAt: Date | null;
  @ApiProperty({ type: 'integer', nullable: true }) statsDurationMs: number | null;
}

/** `GET /api/collections`. */
export class CollectionListResponse {
  @ApiProperty({ type: [CollectionView] }) items: CollectionView[];
}

/** `GET /api/collections/:name/stats`. */
export class CollectionStatsResponse {
  @ApiProperty() collection: string;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, description: 'Counts and sizes by func and status; null before the stats job first ran' })
  stats: Record<string, unknown> | null;
  @ApiProperty(TIME_OR_NULL) computedAt: Date | null;
  @ApiProperty({ type: 'integer', nullable: true }) durationMs: number | null;
}

export class AuditEntry {
  @ApiProperty({ description: 'Entry id (decimal string)' }) id: string;
  @ApiProperty({ description: '`role:token-id` (a short hash of the token, never the token)', example: 'operator:98ab01c56d' }) who: string;
  @ApiProperty({ example: 'tasks.retry' }) action: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'The task id or the filter (never task args)' }) target: Record<string, unknown>;
  @ApiProperty({ type: 'integer', description: 'Rows changed' }) count: number;
  @ApiProperty(TIME) at: Date;
}

/** `GET /api/audit`. */
export class AuditPageResponse {
  @ApiProperty({ type: [AuditEntry] }) items: AuditEntry[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page; null on the last one' }) nextCursor: string | null;
}
