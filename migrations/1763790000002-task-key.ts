import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Task identity moves out of `task` into the insert-only `task_key`. Every state change of a task
 * is a non-HOT update (status is indexed), and a non-HOT update writes an entry into every index of
 * the table: the three-column identity index was the widest of them, paid at each claim and each
 * finish although only enqueue reads it. In `task_key` it is written once, when the task is made.
 */
export class TaskKey1763790000002 implements MigrationInterface {
  name = 'TaskKey1763790000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE task_key (
        collection character varying(100) NOT NULL,
        func character varying(200) NOT NULL,
        args_hash bytea NOT NULL,
        task_id bigint NOT NULL,
        CONSTRAINT task_key_pk PRIMARY KEY (collection, func, args_hash)
      )`);
    await q.query(`INSERT INTO task_key (collection, func, args_hash, task_id) SELECT collection, func, args_hash, id FROM task`);
    // The foreign key's ON DELETE CASCADE finds a task's key through this index.
    await q.query(`CREATE UNIQUE INDEX task_key_task_uq ON task_key (task_id)`);
    await q.query(`ALTER TABLE task_key ADD CONSTRAINT task_key_task_fk FOREIGN KEY (task_id) REFERENCES task (id) ON DELETE CASCADE`);
    await q.query(`DROP INDEX task_identity_uq`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE UNIQUE INDEX task_identity_uq ON task (collection, func, args_hash)`);
    await q.query(`DROP TABLE task_key`);
  }
}
