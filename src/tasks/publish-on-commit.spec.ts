import { describe, expect, it } from '@jest/globals';
import { commitChannel } from './publish-on-commit.js';

describe('commitChannel', () => {
  it('is <schema>_enqueued_<id>, and stays within 63 bytes for a long schema', () => {
    expect(commitChannel('laterz', 'abc123')).toBe('laterz_enqueued_abc123');
    const long = commitChannel('s'.repeat(63), '0123456789ab');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/_0123456789ab$/);
    expect(commitChannel('t'.repeat(63), '0123456789ab')).not.toBe(long);
  });
});
