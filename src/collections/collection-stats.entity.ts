import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The last statistics the stats job saved for a collection; the API serves this row. */
@Entity({ name: 'collection_stats' })
export class CollectionStatsEntity {
  @PrimaryColumn({ type: 'varchar', length: 100 })
  collection: string;

  @Column({ type: 'jsonb' })
  stats: Record<string, unknown>;

  @Column({ name: 'computed_at', type: 'timestamptz', default: () => 'now()' })
  computedAt: Date;

  @Column({ name: 'duration_ms', type: 'integer', default: 0 })
  durationMs: number;
}
