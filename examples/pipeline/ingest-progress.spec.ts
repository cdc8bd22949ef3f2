import { progressDue } from './demo-progress.service.js';
import { formatIngested, formatProgress, FuncStatusCount, summariseIngest } from './ingest-progress.js';

const row = (func: string, status: string, n: number, outdated = 0): FuncStatusCount => ({ func, status, n, outdated });

/** The sample folder, ingested: 19 folders, 314 files, 304 contents (3 unreadable), 301 indexed. */
const INGESTED = [
  row('filesystem.walk', 'success', 19),
  row('digests.digest', 'success', 314),
  row('text.extract', 'success', 301),
  row('text.extract', 'broken', 3),
  row('search.index', 'success', 301),
];

describe('summariseIngest', () => {
  it('counts each step and is done when every task has finished', () => {
    const p = summariseIngest(INGESTED);
    expect(p).toEqual({
      folders: { done: 19, total: 19 },
      files: { done: 314, total: 314 },
      extracted: { done: 304, total: 304 },
      unreadable: 3,
      indexed: { done: 301, total: 301 },
      failing: 0,
      done: true,
    });
    expect(formatIngested(p)).toBe('314 files (304 distinct contents) in 19 folders: 301 searchable, 3 could not be read');
  });

  it('is not done while any task is pending, queued, started, deferred or in error', () => {
    for (const status of ['pending', 'queued', 'started', 'deferred', 'error']) {
      expect(summariseIngest([...INGESTED, row('search.index', status, 1)]).done).toBe(false);
    }
  });

  it('is not done with nothing at all (the walk not yet enqueued)', () => {
    expect(summariseIngest([]).done).toBe(false);
  });

  it('counts tasks finished at an older version as not done (a version bump re-runs them)', () => {
    const p = summariseIngest([...INGESTED.filter((r) => r.func !== 'text.extract'), row('text.extract', 'success', 301, 301), row('text.extract', 'broken', 3)]);
    expect(p.done).toBe(false);
    expect(p.extracted).toEqual({ done: 3, total: 304 });
  });

  it('prints a progress line with every step, unreadable files and failed tries', () => {
    const p = summariseIngest([
      row('filesystem.walk', 'success', 19),
      row('digests.digest', 'success', 200),
      row('digests.digest', 'queued', 114),
      row('text.extract', 'success', 150),
      row('text.extract', 'broken', 2),
      row('text.extract', 'pending', 40),
      row('text.extract', 'error', 1),
      row('search.index', 'deferred', 150),
    ]);
    expect(formatProgress('demo', p)).toBe(
      'demo: ingesting: folders 19/19 walked, files 200/314 digested, contents 152/193 extracted (2 unreadable), 0/150 indexed, 1 failed tries waiting for a retry',
    );
  });
});

describe('progressDue', () => {
  const before = summariseIngest([row('filesystem.walk', 'pending', 1)]);
  const after = summariseIngest([row('filesystem.walk', 'success', 1), row('digests.digest', 'queued', 4)]);

  it('logs a change once the last line is a few seconds old', () => {
    expect(progressDue(before, after, 5000)).toBe(true);
  });

  it('does not log a change sooner than that, nor the same progress again', () => {
    expect(progressDue(before, after, 4999)).toBe(false);
    expect(progressDue(after, after, 60_000)).toBe(false);
  });
});
