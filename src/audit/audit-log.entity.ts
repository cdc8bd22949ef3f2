import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** One row per mutation made through the admin API. */
@Entity({ name: 'audit_log' })
@Index('audit_log_at_idx', ['at'])
export class AuditLogEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'BY DEFAULT' })
  id: string;

  /** Token role and id, e.g. `operator:ops-1`. */
  @Column({ type: 'varchar', length: 200 })
  who: string;

  @Column({ type: 'varchar', length: 100 })
  action: string;

  /** A task id or the filter that selected the tasks. */
  @Column({ type: 'jsonb' })
  target: unknown;

  @Column({ type: 'integer', default: 0 })
  count: number;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  at: Date;
}
