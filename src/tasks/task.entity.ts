import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { TaskStatus } from './task-status.js';

/**
 * One call of a registered func on JSON args. The partial indexes match the hot statements under
 * `sql/` exactly; each was checked with EXPLAIN on a table of a million rows.
 */
@Entity({ name: 'task' })
@Index('task_active_idx', ['collection', 'func', 'status', 'dateModified'], {
  where: `status IN ('pending', 'queued', 'deferred', 'started', 'error', 'broken')`,
})
// (priority DESC, id): TypeORM cannot say DESC, so the migration owns this index.
@Index('task_queued_idx', { synchronize: false })
@Index('task_queued_func_idx', { synchronize: false })
// (collection, func, version, status) INCLUDE (size_bytes): TypeORM cannot say INCLUDE.
@Index('task_version_idx', { synchronize: false })
// (collection, func, date_finished) INCLUDE (date_started, status) and (collection, func, fail_count,
// date_modified) INCLUDE (status, broken_reason): TypeORM cannot say INCLUDE.
@Index('task_finished_idx', { synchronize: false })
@Index('task_failed_idx', { synchronize: false })
// Expiry's sweep (expires_at of waiting rows) and the queue caps' count (waiting rows of a func).
@Index('task_expires_idx', { synchronize: false })
@Index('task_waiting_func_idx', { synchronize: false })
// (run_after) WHERE run_after IS NOT NULL AND status IN ('pending', 'error', 'broken'): the due scan's.
@Index('task_due_idx', { synchronize: false })
@Index('task_pending_now_idx', ['collection', 'func', 'dateModified'], { where: `status = 'pending' AND run_after IS NULL` })
export class TaskEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'BY DEFAULT' })
  id: string;

  @Column({ type: 'varchar', length: 100 })
  collection: string;

  @Column({ type: 'varchar', length: 200 })
  func: string;

  @Column({ type: 'jsonb' })
  args: unknown;

  /** sha256 of the canonical JSON of args (keys sorted); unique per (collection, func) through `task_key`. */
  @Column({ name: 'args_hash', type: 'bytea' })
  argsHash: Buffer;

  @Column({ type: 'enum', enum: TaskStatus, enumName: 'task_status', default: TaskStatus.Pending })
  status: TaskStatus;

  @Column({ type: 'integer', default: 0 })
  version: number;

  @Column({ type: 'jsonb', nullable: true })
  result: unknown;

  @Column({ type: 'text', default: '' })
  error: string;

  @Column({ name: 'broken_reason', type: 'varchar', length: 100, default: '' })
  brokenReason: string;

  @Column({ type: 'text', default: '' })
  log: string;

  @Column({ name: 'fail_count', type: 'integer', default: 0 })
  failCount: number;

  /** Fencing token: +1 at every start; a finish must name the attempt it belongs to. */
  @Column({ type: 'integer', default: 0 })
  attempt: number;

  @Column({ name: 'size_bytes', type: 'bigint', default: 0 })
  sizeBytes: string;

  @Column({ type: 'smallint', default: 0 })
  priority: number;

  @Column({ name: 'run_after', type: 'timestamptz', nullable: true })
  runAfter: Date | null;

  /** Not started by then: `broken` / `expired`, never run. */
  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  /** An enqueue's override of its func's retry policy (RetryOverride), or null. */
  @Column({ type: 'jsonb', nullable: true })
  retry: unknown;

  @Column({ type: 'varchar', length: 200, nullable: true })
  worker: string | null;

  @Column({ name: 'date_created', type: 'timestamptz', default: () => 'now()' })
  dateCreated: Date;

  @Column({ name: 'date_modified', type: 'timestamptz', default: () => 'now()' })
  dateModified: Date;

  @Column({ name: 'date_started', type: 'timestamptz', nullable: true })
  dateStarted: Date | null;

  @Column({ name: 'date_finished', type: 'timestamptz', nullable: true })
  dateFinished: Date | null;
}
