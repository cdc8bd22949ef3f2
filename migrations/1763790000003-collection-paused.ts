import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every claim reads the names of the paused collections (`process = false`) to leave their tasks
 * alone. Through this index it reads those rows only, however many collections there are.
 */
export class CollectionPaused1763790000003 implements MigrationInterface {
  name = 'CollectionPaused1763790000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX collection_paused_idx ON collection (name) WHERE NOT process`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX collection_paused_idx`);
  }
}
