import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** An OS account the server's processes run as. */
export interface OsAccount {
  name: string;
  uid: number;
  gid: number;
}

/** The account PostgreSQL runs as when laterz runs as root. */
export const SERVER_ACCOUNT = 'postgres';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function lookUp(name: string): Promise<OsAccount | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

/**
 * Who the embedded server runs as. PostgreSQL refuses to run as root, so as root it runs as the
 * `postgres` account (made the first time if the machine has none); otherwise it runs as this
 * process's own user (undefined: no switch).
 */
export async function serverAccount(): Promise<OsAccount | undefined> {
  if (!isRoot()) return undefined;
  const existing = await lookUp(SERVER_ACCOUNT);
  if (existing) return existing;
  try {
    await run('groupadd', ['--force', '--system', SERVER_ACCOUNT]);
    await run('useradd', ['--system', '--gid', SERVER_ACCOUNT, '--no-create-home', '--shell', '/usr/sbin/nologin', SERVER_ACCOUNT]);
  } catch (err) {
    throw new Error(`running as root, PostgreSQL needs an OS account of its own and making "${SERVER_ACCOUNT}" failed: ${(err as Error).message.trim()}`, {
      cause: err,
    });
  }
  const made = await lookUp(SERVER_ACCOUNT);
  if (!made) throw new Error(`running as root, PostgreSQL needs an OS account of its own: "${SERVER_ACCOUNT}" was made but cannot be looked up`);
  return made;
}
