import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A periodic schedule: `func(args)` in `collection` at each slot of `cron` (in `tz`) or of
 * `every_ms`. Declared on a handler (`source = 'handler'`, named after its func) or added at run
 * time (`source = 'api'`). The periodic job fires the due ones (`next_run`).
 */
@Entity({ name: 'schedule' })
@Index('schedule_next_run_idx', ['nextRun'])
export class ScheduleEntity {
  @PrimaryColumn({ type: 'varchar', length: 200, primaryKeyConstraintName: 'schedule_pk' })
  name: string;

  @Column({ type: 'varchar', length: 200 })
  func: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  args: Record<string, unknown>;

  @Column({ type: 'varchar', length: 100, default: 'default' })
  collection: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  cron: string | null;

  @Column({ type: 'varchar', length: 100, nullable: true })
  tz: string | null;

  @Column({ name: 'every_ms', type: 'bigint', nullable: true })
  everyMs: string | null;

  /** `once` or `skip`: what happens to slots missed while no scheduler ran. */
  @Column({ type: 'varchar', length: 10, default: 'once' })
  missed: string;

  /** `handler` (declared with @TaskHandler) or `api` (added through SchedulesService / the admin API). */
  @Column({ type: 'varchar', length: 10, default: 'api' })
  source: string;

  @Column({ name: 'next_run', type: 'timestamptz' })
  nextRun: Date;

  @Column({ name: 'last_run', type: 'timestamptz', nullable: true })
  lastRun: Date | null;

  @Column({ name: 'last_task_id', type: 'bigint', nullable: true })
  lastTaskId: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  updated: Date;
}
