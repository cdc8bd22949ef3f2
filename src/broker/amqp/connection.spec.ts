import { BLOCKED, CLOSED, CONNECTED, ConnectionModes, LOST, redactSecrets, redactUrl, STARTING, UNREACHABLE } from './connection.js';

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

describe('AMQP connection modes', () => {
  const where = 'amqp://rabbit:5672';
  function modes() {
    const lines: string[] = [];
    const log = { log: (m: unknown) => lines.push(`log ${String(m)}`), warn: (m: unknown) => lines.push(`warn ${String(m)}`) };
    return { lines, modes: new ConnectionModes(where, log) };
  }

  it('logs a first connection once, with no outage', () => {
    const { lines, modes: m } = modes();
    expect(m.mode).toBe(STARTING);
    expect(m.up).toBe(false);
    m.connected();
    expect(m.mode).toBe(CONNECTED);
    expect(m.up).toBe(true);
    expect(m.problem()).toBeUndefined();
    expect(lines).toEqual([`log connected to ${where}`]);
  });

  it('logs an unreachable broker once however many attempts fail, and the connection that ends it', () => {
    const { lines, modes: m } = modes();
    m.connectFailed('ECONNREFUSED');
    m.connectFailed('ECONNREFUSED');
    m.connectFailed('ETIMEDOUT');
    expect(m.mode).toBe(UNREACHABLE);
    expect(m.problem()).toMatch(new RegExp(`^not connected to ${where} since .*: ETIMEDOUT$`));
    m.connected();
    expect(lines).toEqual([`warn cannot connect to ${where} (ECONNREFUSED); retrying every 1 s`, expect.stringMatching(/^log connected to .* after [0-9.]+ s \(ETIMEDOUT\)$/)]);
  });

  it('logs each loss and its recovery once, with the failed attempts between them silent', () => {
    const { lines, modes: m } = modes();
    m.connected();
    m.disconnected('heartbeat timeout');
    expect(m.mode).toBe(LOST);
    expect(m.up).toBe(false);
    m.connectFailed('ECONNREFUSED');
    m.connectFailed('ECONNREFUSED');
    m.connected();
    m.disconnected('forced reconnect');
    m.connected();
    expect(lines.slice(1)).toEqual([
      `warn connection to ${where} lost (heartbeat timeout); reconnecting, unpublished tasks wait for the dispatcher`,
      expect.stringMatching(/^log connection to .* recovered after [0-9.]+ s \(ECONNREFUSED\)$/),
      `warn connection to ${where} lost (forced reconnect); reconnecting, unpublished tasks wait for the dispatcher`,
      expect.stringMatching(/^log connection to .* recovered after [0-9.]+ s \(forced reconnect\)$/),
    ]);
  });

  it('stays up while blocked, and says so to the health check', () => {
    const { modes: m } = modes();
    m.connected();
    m.blocked('low on memory');
    expect(m.mode).toBe(BLOCKED);
    expect(m.up).toBe(true);
    expect(m.problem()).toBe('connection blocked by RabbitMQ: low on memory');
    expect(m.downFor(0)).toBeUndefined();
    m.unblocked();
    expect(m.mode).toBe(CONNECTED);
    m.blocked('disk');
    m.disconnected('closed');
    expect(m.mode).toBe(LOST);
  });

  it('counts an outage from its start, and the wait for a first connection as one', () => {
    const { modes: m } = modes();
    expect(m.downFor(0)).toBe('not connected yet');
    expect(m.downFor(60_000)).toBeUndefined();
    m.connected();
    expect(m.downFor(0)).toBeUndefined();
    m.disconnected('gone');
    expect(m.downFor(0)).toBe('gone');
    expect(m.downFor(60_000)).toBeUndefined();
  });

  it('ignores the events that race close(), and closes once', () => {
    const { lines, modes: m } = modes();
    expect(m.close()).toBe(true);
    expect(m.close()).toBe(false);
    m.connected();
    m.connectFailed('x');
    m.disconnected('x');
    m.blocked('x');
    m.unblocked();
    expect(m.mode).toBe(CLOSED);
    expect(m.problem()).toBe('closed');
    expect(lines).toEqual([]);
  });

  it('refuses a transition its mode cannot make', () => {
    const { modes: m } = modes();
    expect(() => m.disconnected('never connected')).toThrow(/disconnected in mode STARTING/);
    expect(() => m.blocked('never connected')).toThrow(/blocked in mode STARTING/);
    m.connected();
    expect(() => m.connected()).toThrow(/connected in mode CONNECTED/);
    expect(() => m.connectFailed('while connected')).toThrow(/connect failed in mode CONNECTED/);
  });
});
