import { MigrationInterface, QueryRunner } from 'typeorm';

/** The reference pipeline's tables: content-addressed blobs, the walked tree, extracted text, the search index. */
export class Pipeline1763790000001 implements MigrationInterface {
  name = 'Pipeline1763790000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE blob (
        sha256 character(64) NOT NULL,
        size bigint NOT NULL,
        mime character varying(200) NOT NULL,
        first_path text NOT NULL,
        created TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT blob_pk PRIMARY KEY (sha256)
      )`);
    await q.query(`
      CREATE TABLE file (
        collection character varying(100) NOT NULL,
        path text NOT NULL,
        dir text NOT NULL,
        kind character varying(10) NOT NULL,
        blob character(64),
        size bigint,
        seen TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT file_pk PRIMARY KEY (collection, path)
      )`);
    await q.query(`CREATE INDEX file_dir_idx ON file (collection, dir)`);
    await q.query(`CREATE INDEX file_blob_idx ON file (collection, blob)`);
    await q.query(`
      CREATE TABLE blob_text (
        blob character(64) NOT NULL,
        text text NOT NULL,
        chars integer NOT NULL,
        CONSTRAINT blob_text_pk PRIMARY KEY (blob)
      )`);
    await q.query(`
      CREATE TABLE search_document (
        collection character varying(100) NOT NULL,
        blob character(64) NOT NULL,
        tsv tsvector NOT NULL,
        indexed TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT search_document_pk PRIMARY KEY (collection, blob)
      )`);
    await q.query(`CREATE INDEX search_document_tsv_idx ON search_document USING gin (tsv)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE search_document`);
    await q.query(`DROP TABLE blob_text`);
    await q.query(`DROP TABLE file`);
    await q.query(`DROP TABLE blob`);
  }
}
