import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { TaskStatus } from './task-status.js';
import { TaskEntity } from './task.entity.js';

/** One failed or killed attempt of a task (a success needs none: the task row holds its times). */
@Entity({ name: 'task_attempt' })
@Index('task_attempt_task_idx', ['taskId', 'attempt'])
export class TaskAttemptEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'BY DEFAULT' })
  id: string;

  @Column({ name: 'task_id', type: 'bigint' })
  taskId: string;

  @Column({ type: 'integer' })
  attempt: number;

  @Column({ type: 'enum', enum: TaskStatus, enumName: 'task_status' })
  status: TaskStatus;

  @Column({ name: 'broken_reason', type: 'varchar', length: 100, default: '' })
  brokenReason: string;

  /** The first 2 KB of the error and its stack. */
  @Column({ type: 'text', default: '' })
  error: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  worker: string | null;

  @Column({ name: 'date_started', type: 'timestamptz', nullable: true })
  dateStarted: Date | null;

  @Column({ name: 'date_finished', type: 'timestamptz', default: () => 'now()' })
  dateFinished: Date;

  @ManyToOne(() => TaskEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'task_id', foreignKeyConstraintName: 'task_attempt_task_fk' })
  task?: Relation<TaskEntity>;
}
