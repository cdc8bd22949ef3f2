import { describe, expect, it } from '@jest/globals';
import type { UnfinishedRow } from './driver.gateway.js';
import { nextRetry, whyWaiting, type WaitingContext } from './waiting.js';

const now = new Date('2030-01-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);
const context: WaitingContext = { served: new Set(['f']), tiers: [{ minutes: 5, failLimit: 3 }, { minutes: 150, failLimit: 6 }], now };
const row = (over: Partial<UnfinishedRow>): UnfinishedRow => ({
  id: '1',
  collection: 'default',
  func: 'f',
  status: 'pending',
  runAfter: null,
  modified: minutesAgo(1),
  failCount: 0,
  error: '',
  processes: true,
  parentsUnfinished: false,
  ...over,
});

describe('whyWaiting', () => {
  it('a failed task waits for the retry its policy set (run_after), or for an operator when it has none left', () => {
    const at = new Date(now.getTime() + 5 * 60_000);
    expect(whyWaiting(row({ status: 'error', failCount: 1, error: 'Error: boom', runAfter: at }), context)).toEqual({
      id: '1',
      collection: 'default',
      func: 'f',
      status: 'error',
      why: 'retry',
      at,
      error: 'Error: boom',
    });
    expect(whyWaiting(row({ status: 'error', failCount: 6, runAfter: null }), context)).toMatchObject({ why: 'failed' });
    expect(nextRetry({ failCount: 0, modified: now }, [])).toBeUndefined();
  });

  it('a pending task waits for its runAfter, or for its parents', () => {
    const later = new Date(now.getTime() + 60_000);
    expect(whyWaiting(row({ runAfter: later }), context)).toMatchObject({ why: 'run_after', at: later });
    expect(whyWaiting(row({ runAfter: minutesAgo(1), parentsUnfinished: true }), context)).toMatchObject({ why: 'parents' });
    expect(whyWaiting(row({ status: 'deferred', parentsUnfinished: true }), context)).toMatchObject({ why: 'parents' });
  });

  it('says when a task is not for this app, paused, running elsewhere, or waits for no reason it knows', () => {
    expect(whyWaiting(row({ func: 'other' }), context)).toMatchObject({ why: 'not_served' });
    expect(whyWaiting(row({ processes: false, status: 'error' }), context)).toMatchObject({ why: 'paused' });
    expect(whyWaiting(row({ status: 'started' }), context)).toMatchObject({ why: 'running' });
    expect(whyWaiting(row({ status: 'queued' }), context)).toMatchObject({ why: 'unknown' });
    expect(whyWaiting(row({}), context)).toMatchObject({ why: 'unknown' });
  });
});
