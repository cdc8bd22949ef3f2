/** Longest URL a log line carries, characters (a longer one is cut and says how long it was). */
export const MAX_LOGGED_URL_CHARS = 500;

/** Query parameter names that may carry a credential: any name containing one of these words. */
const CREDENTIAL_NAME = /token|key|secret|passw|pwd|auth|credential|session|signature|cookie|jwt|bearer/i;

/**
 * A request URL fit for a log line: the value of every credential-like query parameter
 * (`?token=`, `access_token`, `api_key`, `client_secret`, `password`, `a[auth]`… also
 * percent-encoded names) becomes `[redacted]`, and the whole is cut at MAX_LOGGED_URL_CHARS.
 */
export function loggableUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  const redacted =
    q < 0
      ? url
      : `${url.slice(0, q)}?${url
          .slice(q + 1)
          .split('&')
          .map((pair) => {
            const eq = pair.indexOf('=');
            const name = eq < 0 ? pair : pair.slice(0, eq);
            return CREDENTIAL_NAME.test(decoded(name)) ? `${name}=[redacted]` : pair;
          })
          .join('&')}`;
  return redacted.length <= MAX_LOGGED_URL_CHARS ? redacted : `${redacted.slice(0, MAX_LOGGED_URL_CHARS)}…(${redacted.length} chars)`;
}

/** A parameter name as the server reads it; a malformed escape is matched as written (`%zz` stays). */
function decoded(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}
