import { BadRequestException } from '@nestjs/common';
import { decodeTaskCursor, encodeTaskCursor } from './task-cursor.js';

const forged = (cursor: object) => Buffer.from(JSON.stringify(cursor)).toString('base64url');

describe('task cursor', () => {
  it('round-trips a cursor of each sort type', () => {
    for (const [s, k] of [
      ['id', '9223372036854775807'],
      ['dateCreated', '2026-01-01T00:00:00.000001Z'],
      ['priority', '-32768'],
      ['failCount', '2147483647'],
    ] as const) {
      const cursor = { s, o: 'asc' as const, k, id: '42' };
      expect(decodeTaskCursor(encodeTaskCursor(cursor), s, 'asc')).toEqual(cursor);
    }
  });

  it.each([
    ['another sort', { s: 'priority', o: 'desc', k: '1', id: '1' }, 'id'],
    ['another order', { s: 'id', o: 'asc', k: '1', id: '1' }, 'id'],
    ['SQL in the key', { s: 'id', o: 'desc', k: '1; DROP TABLE task', id: '1' }, 'id'],
    ['an id past bigint', { s: 'id', o: 'desc', k: '1', id: '9223372036854775808' }, 'id'],
    ['a smallint key out of range', { s: 'priority', o: 'desc', k: '32768', id: '1' }, 'priority'],
    ['an integer key out of range', { s: 'failCount', o: 'desc', k: '2147483648', id: '1' }, 'failCount'],
    ['a day that does not exist', { s: 'dateCreated', o: 'desc', k: '2026-02-30T00:00:00.000000Z', id: '1' }, 'dateCreated'],
    ['a timestamp in another form', { s: 'dateCreated', o: 'desc', k: '2026-01-01 00:00:00+00', id: '1' }, 'dateCreated'],
    ['a key that is not a string', { s: 'attempt', o: 'desc', k: 1, id: '1' }, 'attempt'],
  ] as const)('refuses %s with a 400 naming cursor', (_what, cursor, sort) => {
    let error: unknown;
    try {
      decodeTaskCursor(forged(cursor), sort, 'desc');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as BadRequestException).getResponse()).toMatchObject({ fields: ['cursor'] });
  });
});
