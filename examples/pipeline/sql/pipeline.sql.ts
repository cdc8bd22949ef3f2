import type { Pool } from 'pg';

/** A statement and, for pg's prepared-statement cache, its unique name. */
export interface Statement {
  name: string;
  text: string;
}

/** Runs a statement (prepared under its name) and returns its rows. */
export async function rows<T>(pool: Pool, statement: Statement, values: unknown[]): Promise<T[]> {
  return (await pool.query({ name: statement.name, text: statement.text, values })).rows as T[];
}

/** The folders a walk found. */
export const UPSERT_DIRS: Statement = {
  name: 'laterz_pipeline_upsert_dirs',
  text: `
    INSERT INTO file (collection, path, dir, kind)
    SELECT $1, p, d, 'dir' FROM unnest($2::text[], $3::text[]) AS x(p, d)
        ON CONFLICT (collection, path) DO UPDATE SET seen = now()`,
};

/** A digested file: its blob (first seen wins the path) and its entry in the tree; says whether the blob is new. */
export const UPSERT_FILE_BLOB: Statement = {
  name: 'laterz_pipeline_upsert_file_blob',
  text: `
    WITH b AS (
           INSERT INTO blob (sha256, size, mime, first_path) VALUES ($3, $5, $6, $2)
               ON CONFLICT (sha256) DO NOTHING
           RETURNING sha256
         ),
         f AS (
           INSERT INTO file (collection, path, dir, kind, blob, size) VALUES ($1, $2, $4, 'file', $3, $5)
               ON CONFLICT (collection, path) DO UPDATE SET blob = EXCLUDED.blob, size = EXCLUDED.size, seen = now()
         )
    SELECT EXISTS (SELECT 1 FROM b) AS new_blob`,
};

/** A path (in this collection) under which a blob was seen: where its extractor reads it. */
export const PATH_OF_BLOB: Statement = {
  name: 'laterz_pipeline_path_of_blob',
  text: `SELECT path FROM file WHERE collection = $1 AND blob = $2 ORDER BY path LIMIT 1`,
};

export const UPSERT_BLOB_TEXT: Statement = {
  name: 'laterz_pipeline_upsert_text',
  text: `
    INSERT INTO blob_text (blob, text, chars) VALUES ($1, $2, $3)
        ON CONFLICT (blob) DO UPDATE SET text = EXCLUDED.text, chars = EXCLUDED.chars`,
};

/** One bulk batch into the full-text index; returns what it indexed. */
export const INDEX_DOCUMENTS: Statement = {
  name: 'laterz_pipeline_index',
  text: `
    INSERT INTO search_document (collection, blob, tsv, indexed)
    SELECT k.collection, k.blob, to_tsvector('english', bt.text), now()
      FROM unnest($1::text[], $2::text[]) AS k(collection, blob)
      JOIN blob_text bt ON bt.blob = k.blob
        ON CONFLICT (collection, blob) DO UPDATE SET tsv = EXCLUDED.tsv, indexed = now()
    RETURNING collection, blob::text AS blob`,
};

/** Ranked hits with highlighted snippets and every path of the content (GIN index on tsv). */
export const SEARCH: Statement = {
  name: 'laterz_pipeline_search',
  text: `
    SELECT d.blob::text AS blob, ts_rank(d.tsv, q) AS rank,
           ts_headline('english', bt.text, q, 'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=18, MinWords=6') AS snippet,
           ARRAY(SELECT f.path FROM file f WHERE f.collection = d.collection AND f.blob = d.blob ORDER BY f.path) AS paths
      FROM search_document d
      JOIN blob_text bt ON bt.blob = d.blob,
           websearch_to_tsquery('english', $2) AS q
     WHERE d.collection = $1 AND d.tsv @@ q
     ORDER BY rank DESC, d.blob
     LIMIT $3`,
};

/** One folder of the walked tree (file_dir_idx). */
export const LIST_DIR: Statement = {
  name: 'laterz_pipeline_list_dir',
  text: `
    SELECT f.path, f.kind, f.size::bigint AS size, f.blob::text AS blob, b.mime
      FROM file f LEFT JOIN blob b ON b.sha256 = f.blob
     WHERE f.collection = $1 AND f.dir = $2
     ORDER BY f.kind, f.path
     LIMIT $3`,
};

/**
 * A collection's tasks by func x status, with how many finished below the func's current version
 * ($2 funcs, $3 versions): the demo's progress (task_version_idx; a few hundred rows).
 */
export const INGEST_COUNTS: Statement = {
  name: 'laterz_pipeline_ingest_counts',
  text: `
    SELECT g.func, g.status::text AS status, sum(g.n)::int AS n,
           COALESCE(sum(g.n) FILTER (WHERE g.version < f.version AND g.status IN ('success', 'broken')), 0)::int AS outdated
      FROM (SELECT func, version, status, count(*) AS n FROM task WHERE collection = $1 GROUP BY func, version, status) g
      LEFT JOIN unnest($2::text[], $3::int[]) AS f(func, version) ON f.func = g.func
     GROUP BY g.func, g.status`,
};

export const COLLECTION_EXISTS: Statement = {
  name: 'laterz_pipeline_collection_exists',
  text: `SELECT 1 FROM collection WHERE name = $1`,
};
