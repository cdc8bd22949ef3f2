import type { Statement } from '../queryable.js';

/** The LISTEN client's statements; `channel` is already quoted (escapeIdentifier). */
export function listen(channel: string): Statement {
  return { text: `LISTEN ${channel}` };
}

export function unlisten(channel: string): Statement {
  return { text: `UNLISTEN ${channel}` };
}
