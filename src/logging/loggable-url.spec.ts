import { loggableUrl, MAX_LOGGED_URL_CHARS } from './loggable-url.js';

describe('loggableUrl', () => {
  it('redacts the values of credential-like parameters and keeps the rest as sent', () => {
    expect(loggableUrl('/api/tasks?token=abc&status=error&access_token=def&api_key=1&client_secret=s&password=p&Authorization=x&sessionId=y&q=a%20b')).toBe(
      '/api/tasks?token=[redacted]&status=error&access_token=[redacted]&api_key=[redacted]&client_secret=[redacted]&password=[redacted]&Authorization=[redacted]&sessionId=[redacted]&q=a%20b',
    );
  });

  it('reads encoded and bracketed names as the server does, and a name without a value', () => {
    expect(loggableUrl('/x?%74oken=abc&a%5Bpassword%5D=p&filter[auth]=z&token&%zz=1')).toBe(
      '/x?%74oken=[redacted]&a%5Bpassword%5D=[redacted]&filter[auth]=[redacted]&token=[redacted]&%zz=1',
    );
  });

  it('leaves a URL without a query or without credentials alone', () => {
    expect(loggableUrl('/api/tasks/12/retry')).toBe('/api/tasks/12/retry');
    expect(loggableUrl('/api/tasks?status=error&limit=5')).toBe('/api/tasks?status=error&limit=5');
    expect(loggableUrl(undefined)).toBeUndefined();
  });

  it('cuts a long URL after redacting it, saying how long it was', () => {
    const url = `/api/tasks?token=${'t'.repeat(2000)}&pad=${'p'.repeat(2000)}`;
    const out = loggableUrl(url)!;
    expect(out.startsWith('/api/tasks?token=[redacted]&pad=ppp')).toBe(true);
    expect(out).toMatch(new RegExp(`…\\(${'/api/tasks?token=[redacted]&pad='.length + 2000} chars\\)$`));
    expect(out.length).toBeLessThan(MAX_LOGGED_URL_CHARS + 20);
  });
});
