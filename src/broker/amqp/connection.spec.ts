import { redactSecrets, redactUrl } from './connection.js';

describe('AMQP URL redaction', () => {
  const url = 'amqp://laterz:s3cr%40t-pw@rabbit.internal:5672/prod';

  it('masks the password of the URL', () => {
    expect(redactUrl(url)).toBe('amqp://laterz:***@rabbit.internal:5672/prod');
    expect(redactUrl('amqp://rabbit:5672')).toBe('amqp://rabbit:5672');
  });

  it('masks the password wherever a message repeats it, encoded or not', () => {
    expect(redactSecrets(`connect to ${url} failed`, url)).not.toContain('s3cr');
    expect(redactSecrets('auth failed for password s3cr@t-pw', url)).toBe('auth failed for password ***');
    expect(redactSecrets('ECONNREFUSED', 'amqp://rabbit')).toBe('ECONNREFUSED');
  });
});
