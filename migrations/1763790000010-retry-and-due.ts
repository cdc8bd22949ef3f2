import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Retry policies and exact scheduling (issue 18, parts 1 and 2).
 * - `task.retry`: an enqueue's override of its func's retry policy (JSON), applied by whichever
 *   worker runs the task.
 * - `task_due_idx` (run_after) over the rows that wait for a time: pending tasks with a `runAfter`,
 *   and failed tasks with a retry due (a failure with no retry left has no run_after). The due scan
 *   reads it from its oldest end; it holds only the waiting rows, whatever the table's size.
 * - Failures the retry tiers would have retried get the due time of their tier (the default
 *   RETRY_TIERS, 5:3,150:6,5000:9): the dispatcher no longer retries by tiers.
 */
export class RetryAndDue1763790000010 implements MigrationInterface {
  name = 'RetryAndDue1763790000010';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE task ADD COLUMN retry jsonb`);
    await q.query(`
      UPDATE task
         SET run_after = date_modified + make_interval(mins => CASE WHEN fail_count < 3 THEN 5 WHEN fail_count < 6 THEN 150 ELSE 5000 END)
       WHERE fail_count < 9
         AND (status = 'error' OR (status = 'broken' AND broken_reason IN ('task_killed', 'timeout')))`);
    await q.query(`CREATE INDEX task_due_idx ON task (run_after) WHERE run_after IS NOT NULL AND status IN ('pending', 'error', 'broken')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX task_due_idx`);
    await q.query(`ALTER TABLE task DROP COLUMN retry`);
  }
}
