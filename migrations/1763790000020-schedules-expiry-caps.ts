import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Periodic schedules, task expiry and queue caps (issue 18, parts 3-5).
 * - `schedule`: one row per periodic schedule (declared on a handler or added at run time); the
 *   periodic job fires the due ones, found on `schedule_next_run_idx`.
 * - `task.expires_at`: a task not started by then ends `broken` / `expired`; the sweep finds the
 *   waiting ones on `task_expires_idx` (waiting rows with a deadline only).
 * - `task_waiting_func_idx`: a capped func's waiting tasks, counted at enqueue (at most cap + 1 entries).
 */
export class SchedulesExpiryCaps1763790000020 implements MigrationInterface {
  name = 'SchedulesExpiryCaps1763790000020';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE task ADD expires_at TIMESTAMP WITH TIME ZONE`);
    await q.query(`CREATE INDEX task_expires_idx ON task (expires_at) WHERE expires_at IS NOT NULL AND status IN ('pending', 'queued', 'deferred', 'error')`);
    await q.query(`CREATE INDEX task_waiting_func_idx ON task (func) WHERE status IN ('pending', 'queued', 'deferred')`);
    await q.query(`
      CREATE TABLE schedule (
        name character varying(200) NOT NULL,
        func character varying(200) NOT NULL,
        args jsonb NOT NULL DEFAULT '{}',
        collection character varying(100) NOT NULL DEFAULT 'default',
        cron character varying(200),
        tz character varying(100),
        every_ms bigint,
        missed character varying(10) NOT NULL DEFAULT 'once',
        source character varying(10) NOT NULL DEFAULT 'api',
        next_run TIMESTAMP WITH TIME ZONE NOT NULL,
        last_run TIMESTAMP WITH TIME ZONE,
        last_task_id bigint,
        created TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        updated TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT schedule_pk PRIMARY KEY (name)
      )`);
    await q.query(`CREATE INDEX schedule_next_run_idx ON schedule (next_run)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE schedule`);
    await q.query(`DROP INDEX task_waiting_func_idx`);
    await q.query(`DROP INDEX task_expires_idx`);
    await q.query(`ALTER TABLE task DROP COLUMN expires_at`);
  }
}
