import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { TaskEntity } from './task.entity.js';

/** A named edge prev -> next: when next runs, prev's result is passed to it under `name`. */
@Entity({ name: 'task_dependency' })
@Index('task_dependency_next_name_uq', ['nextId', 'name'], { unique: true })
@Index('task_dependency_prev_idx', ['prevId'])
export class TaskDependencyEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'BY DEFAULT' })
  id: string;

  @Column({ name: 'prev_id', type: 'bigint' })
  prevId: string;

  @Column({ name: 'next_id', type: 'bigint' })
  nextId: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @ManyToOne(() => TaskEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'prev_id', foreignKeyConstraintName: 'task_dependency_prev_fk' })
  prev?: Relation<TaskEntity>;

  @ManyToOne(() => TaskEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'next_id', foreignKeyConstraintName: 'task_dependency_next_fk' })
  next?: Relation<TaskEntity>;
}
