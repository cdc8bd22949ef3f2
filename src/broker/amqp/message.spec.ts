import { encodeTaskMessage, invalidTaskMessage, parseTaskMessage, previewBody } from './message.js';

describe('AMQP task messages', () => {
  it('carries the collection and task id only', () => {
    const body = encodeTaskMessage({ collection: 'c', taskId: '9007199254740993', func: 'f' } as never);
    expect(JSON.parse(body.toString())).toEqual({ collection: 'c', taskId: '9007199254740993' });
    expect(parseTaskMessage(body)).toEqual({ ok: true, message: { collection: 'c', taskId: '9007199254740993' } });
  });

  it.each([
    ['not JSON', 'nope', 'not JSON'],
    ['a JSON array', '[1]', 'not a JSON object'],
    ['null', 'null', 'not a JSON object'],
    ['a missing collection', '{"taskId":"1"}', 'collection'],
    ['an empty collection', '{"collection":"","taskId":"1"}', 'collection'],
    ['a numeric task id', '{"collection":"c","taskId":1}', 'taskId'],
    ['a negative task id', '{"collection":"c","taskId":"-1"}', 'taskId'],
    ['a task id of 20 digits', '{"collection":"c","taskId":"12345678901234567890"}', 'taskId'],
  ])('rejects %s', (_name, body, reason) => {
    const parsed = parseTaskMessage(Buffer.from(body));
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toContain(reason);
  });

  it('rejects a huge body without parsing it', () => {
    const parsed = parseTaskMessage(Buffer.alloc(1024 * 1024, 'x'));
    expect(parsed).toEqual({ ok: false, reason: expect.stringContaining('too large') });
  });

  it('validates refs before they travel', () => {
    expect(invalidTaskMessage({ collection: 'c', taskId: '42' })).toBeUndefined();
    expect(invalidTaskMessage({ collection: 'c', taskId: '4x' })).toContain('taskId');
  });

  it('quotes only the start of a large body', () => {
    const preview = previewBody(Buffer.alloc(10_000, 'a'));
    expect(preview.length).toBeLessThan(300);
    expect(preview).toContain('10000 bytes');
    expect(previewBody(Buffer.from('{"a":1}'))).toBe(JSON.stringify('{"a":1}'));
  });
});
