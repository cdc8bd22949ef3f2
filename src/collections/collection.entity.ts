import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A named set of tasks (a tenant, a dataset). */
@Entity({ name: 'collection' })
// The paused collections, which every claim reads.
@Index('collection_paused_idx', ['name'], { where: 'NOT process' })
export class CollectionEntity {
  @PrimaryColumn({ type: 'varchar', length: 100 })
  name: string;

  /** Run this collection's tasks at all. */
  @Column({ type: 'boolean', default: true })
  process: boolean;

  /** Re-run its periodic (resync) tasks. */
  @Column({ type: 'boolean', default: false })
  sync: boolean;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  options: Record<string, unknown>;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created: Date;
}
