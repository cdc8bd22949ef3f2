import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The PostgreSQL transport's claim takes only the funcs its worker serves (several apps may share a
 * database). On `task_queued_idx` (priority, id) it walked past every queued row of other funcs
 * ahead of its own, at every claim; `task_queued_func_idx` now holds (func, priority, id), so the
 * claim reads each of its funcs' next rows directly, whatever another app has queued. The one
 * index also serves what the old `(func)` one did (queued rows per func).
 */
export class ClaimByFunc1763790000005 implements MigrationInterface {
  name = 'ClaimByFunc1763790000005';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX task_queued_func_idx`);
    await q.query(`CREATE INDEX task_queued_func_idx ON task (func, priority DESC, id) WHERE status = 'queued'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX task_queued_func_idx`);
    await q.query(`CREATE INDEX task_queued_func_idx ON task (func) WHERE status = 'queued'`);
  }
}
