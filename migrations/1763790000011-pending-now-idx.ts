import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The dispatcher's pending branch takes only pending rows without a time (`run_after IS NULL`); a
 * row with a run_after, due or not, is the due scan's (task_due_idx). On task_active_idx the probe's
 * EXISTS and the pending slices walked past every scheduled row of a (collection, func) that was not
 * due yet, and filtered each on the heap: 250 ms per tick with 100,000 tasks waiting an hour ahead.
 * `task_pending_now_idx` holds only the rows the dispatcher may take, so an idle probe is one index
 * probe whatever waits for its time.
 */
export class PendingNowIdx1763790000011 implements MigrationInterface {
  name = 'PendingNowIdx1763790000011';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX task_pending_now_idx ON task (collection, func, date_modified) WHERE status = 'pending' AND run_after IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX task_pending_now_idx`);
  }
}
