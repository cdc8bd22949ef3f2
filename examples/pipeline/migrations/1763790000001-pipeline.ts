import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The reference pipeline's tables: content-addressed blobs, the walked tree, extracted text, the search index.
 * Idempotent (IF NOT EXISTS): before the pipeline had a chain of its own, this migration ran in the
 * engine's, so a database migrated then already has these tables; the pipeline's chain finds them,
 * changes nothing and records the migration in `pipeline_migrations`.
 */
export class Pipeline1763790000001 implements MigrationInterface {
  name = 'Pipeline1763790000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE IF NOT EXISTS blob (
        sha256 character(64) NOT NULL,
        size bigint NOT NULL,
        mime character varying(200) NOT NULL,
        first_path text NOT NULL,
        created TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT blob_pk PRIMARY KEY (sha256)
      )`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS file (
        collection character varying(100) NOT NULL,
        path text NOT NULL,
        dir text NOT NULL,
        kind character varying(10) NOT NULL,
        blob character(64),
        size bigint,
        seen TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT file_pk PRIMARY KEY (collection, path)
      )`);
    await q.query(`CREATE INDEX IF NOT EXISTS file_dir_idx ON file (collection, dir)`);
    await q.query(`CREATE INDEX IF NOT EXISTS file_blob_idx ON file (collection, blob)`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS blob_text (
        blob character(64) NOT NULL,
        text text NOT NULL,
        chars integer NOT NULL,
        CONSTRAINT blob_text_pk PRIMARY KEY (blob)
      )`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS search_document (
        collection character varying(100) NOT NULL,
        blob character(64) NOT NULL,
        tsv tsvector NOT NULL,
        indexed TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT search_document_pk PRIMARY KEY (collection, blob)
      )`);
    await q.query(`CREATE INDEX IF NOT EXISTS search_document_tsv_idx ON search_document USING gin (tsv)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS search_document`);
    await q.query(`DROP TABLE IF EXISTS blob_text`);
    await q.query(`DROP TABLE IF EXISTS file`);
    await q.query(`DROP TABLE IF EXISTS blob`);
  }
}
