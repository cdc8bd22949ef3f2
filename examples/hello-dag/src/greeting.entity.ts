import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** The app's own table: one row per greeting asked for, written in the transaction that enqueues its tasks. */
@Entity('greeting')
export class Greeting {
  @PrimaryGeneratedColumn()
  id: number;

  @Column()
  who: string;

  /** The DAG's last task. */
  @Column({ name: 'task_id', type: 'bigint' })
  taskId: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
