import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { Relation } from 'typeorm';

/** A func the database knows: recorded by the processes that serve it (FuncCatalog). */
@Entity({ name: 'func' })
export class FuncEntity {
  @PrimaryColumn({ type: 'varchar', length: 200, primaryKeyConstraintName: 'func_pk' })
  name: string;

  /** The current version: the highest among its live servers, else the last one recorded. */
  @Column({ type: 'integer' })
  version: number;

  @Column({ type: 'varchar', length: 200 })
  queue: string;

  @Column({ type: 'boolean', default: false })
  bulk: boolean;

  @Column({ type: 'smallint', default: 0 })
  priority: number;

  /** The handler's other options (timeoutMs, resyncMs, logArgs), as the current version has them. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  options: Record<string, unknown>;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  updated: Date;
}

/** A process serving a func: `host:pid:bootid`, its version of the func, and its last heartbeat. */
@Entity({ name: 'func_server' })
export class FuncServerEntity {
  @PrimaryColumn({ type: 'varchar', length: 200, primaryKeyConstraintName: 'func_server_pk' })
  func: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'func_server_pk' })
  server: string;

  @Column({ type: 'integer' })
  version: number;

  @Column({ name: 'last_seen', type: 'timestamptz', default: () => 'now()' })
  lastSeen: Date;

  @ManyToOne(() => FuncEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'func', foreignKeyConstraintName: 'func_server_func_fk' })
  funcRow?: Relation<FuncEntity>;
}
