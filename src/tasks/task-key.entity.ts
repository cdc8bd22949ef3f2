import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { TaskEntity } from './task.entity.js';

/**
 * A task's identity (collection, func, sha256 of its canonical args), written once when enqueue
 * makes the task. Kept apart from `task` so that the claim and finish updates of a task, which
 * write into every index of `task`, do not write into this one.
 */
@Entity({ name: 'task_key' })
@Index('task_key_task_uq', ['taskId'], { unique: true })
export class TaskKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 100, primaryKeyConstraintName: 'task_key_pk' })
  collection: string;

  @PrimaryColumn({ type: 'varchar', length: 200, primaryKeyConstraintName: 'task_key_pk' })
  func: string;

  @PrimaryColumn({ name: 'args_hash', type: 'bytea', primaryKeyConstraintName: 'task_key_pk' })
  argsHash: Buffer;

  @Column({ name: 'task_id', type: 'bigint' })
  taskId: string;

  @ManyToOne(() => TaskEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'task_id', foreignKeyConstraintName: 'task_key_task_fk' })
  task?: Relation<TaskEntity>;
}
