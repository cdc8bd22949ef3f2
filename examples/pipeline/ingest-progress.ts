import { TaskStatus } from '../../src/index.js';

/** Tasks of one func of a collection in one status, and how many of them finished at an older version. */
export interface FuncStatusCount {
  func: string;
  status: string;
  n: number;
  outdated: number;
}

/** `done` of `total` tasks of one step of the pipeline. */
export interface Step {
  done: number;
  total: number;
}

/** Where the ingestion of one collection stands, from its tasks' counts by func x status. */
export interface IngestProgress {
  folders: Step;
  files: Step;
  /** Distinct contents (blobs) whose text extraction has finished, either way. */
  extracted: Step;
  /** Contents whose extraction ended `broken` (corrupt or unsupported files). */
  unreadable: number;
  indexed: Step;
  /** Tasks in `error`: failed tries the dispatcher retries. */
  failing: number;
  /** Every task of the collection finished at its func's current version. */
  done: boolean;
}

const FINISHED = new Set<string>([TaskStatus.Success, TaskStatus.Broken]);
const PIPELINE_FUNCS = { folders: 'filesystem.walk', files: 'digests.digest', extracted: 'text.extract', indexed: 'search.index' } as const;

/** Sums the counts into the pipeline's steps; done once there are tasks and none is unfinished or outdated. */
export function summariseIngest(rows: readonly FuncStatusCount[]): IngestProgress {
  const step = (func: string, counts: (status: string) => boolean): Step => {
    const of = rows.filter((r) => r.func === func);
    return { done: of.filter((r) => counts(r.status)).reduce((s, r) => s + r.n - r.outdated, 0), total: of.reduce((s, r) => s + r.n, 0) };
  };
  const total = rows.reduce((s, r) => s + r.n, 0);
  const completed = rows.filter((r) => FINISHED.has(r.status)).reduce((s, r) => s + r.n - r.outdated, 0);
  return {
    folders: step(PIPELINE_FUNCS.folders, (s) => FINISHED.has(s)),
    files: step(PIPELINE_FUNCS.files, (s) => FINISHED.has(s)),
    extracted: step(PIPELINE_FUNCS.extracted, (s) => FINISHED.has(s)),
    unreadable: rows.filter((r) => r.func === PIPELINE_FUNCS.extracted && r.status === TaskStatus.Broken).reduce((s, r) => s + r.n - r.outdated, 0),
    indexed: step(PIPELINE_FUNCS.indexed, (s) => s === TaskStatus.Success),
    failing: rows.filter((r) => r.status === TaskStatus.Error).reduce((s, r) => s + r.n, 0),
    done: total > 0 && completed === total,
  };
}

/** Whether two summaries would print the same line. */
export function sameProgress(a: IngestProgress, b: IngestProgress): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const of = (s: Step) => `${s.done}/${s.total}`;

/** One progress line: `<name>: ingesting: folders 3/19 walked, files …`. */
export function formatProgress(name: string, p: IngestProgress): string {
  const parts = [
    `folders ${of(p.folders)} walked`,
    `files ${of(p.files)} digested`,
    `contents ${of(p.extracted)} extracted${p.unreadable > 0 ? ` (${p.unreadable} unreadable)` : ''}`,
    `${of(p.indexed)} indexed`,
  ];
  if (p.failing > 0) parts.push(`${p.failing} failed tries waiting for a retry`);
  return `${name}: ingesting: ${parts.join(', ')}`;
}

/** What an ingested collection holds: `314 files (304 distinct contents) in 19 folders: 301 searchable, 3 could not be read`. */
export function formatIngested(p: IngestProgress): string {
  const unreadable = p.unreadable > 0 ? `, ${p.unreadable} could not be read` : '';
  return `${p.files.total} files (${p.extracted.total} distinct contents) in ${p.folders.total} folders: ${p.indexed.done} searchable${unreadable}`;
}
