import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config.js';
import type { AdminRole } from '../config/env.schema.js';

export type { AdminRole };

/** Who made a request: the role and a short, non-reversible id of the token (never the token). */
export interface Principal {
  role: AdminRole;
  tokenId: string;
}

/** `role:token-id`, as audit rows record it. */
export function principalName(p: Principal): string {
  return `${p.role}:${p.tokenId}`;
}

interface KnownToken extends Principal {
  digest: Buffer;
}

const TOKEN_FILE = 'admin-token';
const TOKEN_SHAPE = /^[A-Za-z0-9_\-.~+/=]{16,}$/;

/** The configured admin tokens, compared in constant time. */
export class AdminTokens {
  private readonly known: KnownToken[];

  constructor(tokens: readonly { role: AdminRole; token: string }[]) {
    this.known = tokens.map(({ role, token }) => ({ role, tokenId: tokenId(token), digest: digestOf(token) }));
  }

  get size(): number {
    return this.known.length;
  }

  /**
   * The principal a presented token belongs to, or undefined. Compares fixed-length digests with
   * timingSafeEqual and always walks every token, so timing tells nothing about which one nearly matched.
   */
  match(presented: string): Principal | undefined {
    const digest = digestOf(presented);
    let found: KnownToken | undefined;
    for (const known of this.known) {
      if (timingSafeEqual(digest, known.digest) && !found) found = known;
    }
    return found && { role: found.role, tokenId: found.tokenId };
  }
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** 10 hex characters of a hash kept apart from the comparison digest: enough to tell tokens apart in the audit log. */
export function tokenId(token: string): string {
  return createHash('sha256').update(`laterz-admin-token-id:${token}`, 'utf8').digest('hex').slice(0, 10);
}

export class AdminTokensMissing extends Error {
  constructor() {
    super(
      'the api role needs ADMIN_TOKENS when DATABASE_URL is set: set ADMIN_TOKENS=operator:<token>[,enqueuer:<token>][,viewer:<token>] ' +
        '(tokens of 16+ characters), or start this process without the api role (e.g. ROLES=worker,scheduler)',
    );
    this.name = 'AdminTokensMissing';
  }
}

/**
 * The api role's tokens: ADMIN_TOKENS when set. Without it, only the embedded mode (no
 * DATABASE_URL) has a fallback: an operator token made at first start and kept in
 * `<DATA_DIR>/admin-token` (mode 0600). The token is printed once, when it is made; this is the
 * only place a token is ever printed. Anything else refuses to start.
 */
export function resolveAdminTokens(config: AppConfig, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): AdminTokens {
  if (config.admin.tokens.length > 0) return new AdminTokens(config.admin.tokens);
  if (config.databaseUrl) throw new AdminTokensMissing();
  const file = join(config.dataDir, TOKEN_FILE);
  const { token, made } = readOrMakeToken(file);
  if (made) {
    print(
      `\n  laterz admin API: no ADMIN_TOKENS set, so an operator token was made and kept in ${file} (mode 0600).\n` +
        `  Authorization: Bearer ${token}\n  It is printed only this once.\n`,
    );
  } else {
    print(`laterz admin API: no ADMIN_TOKENS set; the operator token is in ${file}`);
  }
  return new AdminTokens([{ role: 'operator', token }]);
}

function readOrMakeToken(file: string): { token: string; made: boolean } {
  const existing = readToken(file);
  if (existing !== undefined) return { token: existing, made: false };
  mkdirSync(join(file, '..'), { recursive: true });
  const token = randomBytes(32).toString('base64url');
  try {
    // wx: never overwrite a token another process made meanwhile.
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, made: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const other = readToken(file);
    if (other === undefined) throw new Error(`${file} exists but holds no usable token`, { cause: err });
    return { token: other, made: false };
  }
}

function readToken(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const token = text.trim();
  if (!TOKEN_SHAPE.test(token)) throw new Error(`${file} does not hold a token of 16+ characters [A-Za-z0-9_-.~+/=]: delete it to make a new one`);
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return token;
}
