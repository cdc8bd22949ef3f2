import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One content, whatever the paths it is found under. */
@Entity({ name: 'blob' })
export class BlobEntity {
  @PrimaryColumn({ type: 'character', length: 64, primaryKeyConstraintName: 'blob_pk' })
  sha256: string;

  @Column({ type: 'bigint' })
  size: string;

  @Column({ type: 'varchar', length: 200 })
  mime: string;

  @Column({ name: 'first_path', type: 'text' })
  firstPath: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created: Date;
}

/** A walked file or folder of a collection. */
@Entity({ name: 'file' })
@Index('file_dir_idx', ['collection', 'dir'])
@Index('file_blob_idx', ['collection', 'blob'])
export class FileEntity {
  @PrimaryColumn({ type: 'varchar', length: 100, primaryKeyConstraintName: 'file_pk' })
  collection: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'file_pk' })
  path: string;

  @Column({ type: 'text' })
  dir: string;

  @Column({ type: 'varchar', length: 10 })
  kind: 'file' | 'dir';

  @Column({ type: 'character', length: 64, nullable: true })
  blob: string | null;

  @Column({ type: 'bigint', nullable: true })
  size: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  seen: Date;
}

/** The text extracted from a blob. */
@Entity({ name: 'blob_text' })
export class BlobTextEntity {
  @PrimaryColumn({ type: 'character', length: 64, primaryKeyConstraintName: 'blob_text_pk' })
  blob: string;

  @Column({ type: 'text' })
  text: string;

  @Column({ type: 'integer' })
  chars: number;
}

/** A blob's entry in a collection's full-text index. */
@Entity({ name: 'search_document' })
@Index('search_document_tsv_idx', { synchronize: false })
export class SearchDocumentEntity {
  @PrimaryColumn({ type: 'varchar', length: 100, primaryKeyConstraintName: 'search_document_pk' })
  collection: string;

  @PrimaryColumn({ type: 'character', length: 64, primaryKeyConstraintName: 'search_document_pk' })
  blob: string;

  @Column({ type: 'tsvector' })
  tsv: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  indexed: Date;
}

export const PIPELINE_ENTITIES = [BlobEntity, FileEntity, BlobTextEntity, SearchDocumentEntity];
