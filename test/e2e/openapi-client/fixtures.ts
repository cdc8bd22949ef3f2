/** Rows the test made for the calls to act on. */
export interface Fixtures {
  /** A collection with tasks in error, for a retry by filter. */
  retryCollection: string;
  /** A collection with pending tasks, for a cancel by filter. */
  cancelCollection: string;
  /** A collection with old tasks in error, for a purge. */
  purgeCollection: string;
  /** A collection the pipeline ingested: a word in one of its files, and one of its folders. */
  searchCollection: string;
  searchWords: string;
  folder: string;
}
