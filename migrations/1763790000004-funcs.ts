import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The funcs the database knows, and the processes serving each. Every process with the worker or
 * scheduler role records its funcs at boot and on each heartbeat (FUNC_HEARTBEAT_SECONDS), one
 * statement per beat, and deletes its `func_server` rows at shutdown: a producer without the code
 * enqueues any func recorded here, and the dispatcher queues only funcs with a live server. Both
 * tables hold a row per func (per live process): a few hundred rows, read whole.
 */
export class Funcs1763790000004 implements MigrationInterface {
  name = 'Funcs1763790000004';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE func (
        name character varying(200) NOT NULL,
        version integer NOT NULL,
        queue character varying(200) NOT NULL,
        bulk boolean NOT NULL DEFAULT false,
        priority smallint NOT NULL DEFAULT '0',
        options jsonb NOT NULL DEFAULT '{}',
        updated TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT func_pk PRIMARY KEY (name)
      )`);
    await q.query(`
      CREATE TABLE func_server (
        func character varying(200) NOT NULL,
        server text NOT NULL,
        version integer NOT NULL,
        last_seen TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT func_server_pk PRIMARY KEY (func, server),
        CONSTRAINT func_server_func_fk FOREIGN KEY (func) REFERENCES func(name) ON DELETE CASCADE ON UPDATE NO ACTION
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE func_server`);
    await q.query(`DROP TABLE func`);
  }
}
