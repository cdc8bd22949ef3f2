#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HandlersFileError, loadHandlersFiles } from '../tasks/handlers-files.js';
import { EXIT, parseLaterzArgs, USAGE } from './laterz-args.js';

// The package's `laterz` bin (dist/src/cli/laterz.js): the service for producers and workers that
// are not a Nest app of their own, with the user's compiled handlers modules. `npm start` (src/main.ts)
// is the repository's demo: the same bootstrap with the reference pipeline. The engine (Nest, pg,
// TypeORM) is imported only by the commands that run it: help, version and a bad command line answer at once.

/** The package's one entry, beside this file in dist/src/: what `import 'laterz'` in a handlers file must load. */
const LATERZ_ENTRY = fileURLToPath(new URL('../index.js', import.meta.url));
/** The package's package.json, from dist/src/cli/. */
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

/** `laterz start`: the handlers files of `--handlers`, else of LATERZ_HANDLERS, imported into the service; runs until a signal stops it. */
async function start(flagged: string[]): Promise<void> {
  await import('reflect-metadata');
  const [{ AppConfig }, { bootstrap }, { AppLogger }] = await Promise.all([import('../config/app-config.js'), import('../bootstrap.js'), import('../logging/app-logger.js')]);
  const config = AppConfig.fromEnv();
  const [paths, from] = flagged.length > 0 ? [flagged, '--handlers'] : [config.handlers, 'LATERZ_HANDLERS'];
  const loaded = await loadHandlersFiles(paths, { cwd: process.cwd(), from, laterzEntry: LATERZ_ENTRY });
  // An isolate (WORKER_ISOLATION, a func's isolation) boots the same files.
  const withFiles = flagged.length > 0 ? config.with({ LATERZ_HANDLERS: loaded.map((l) => l.file).join(',') }) : config;
  const running = await bootstrap(withFiles, { imports: loaded.flatMap((l) => l.modules) });
  running.app
    .get(AppLogger)
    .log(
      loaded.length > 0
        ? `handlers: ${loaded.map((l) => `${l.file} (${l.names.join(', ')})`).join('; ')}`
        : 'no handlers files (--handlers, LATERZ_HANDLERS): the engine alone, enqueue, admin API and maintenance',
      'laterz',
    );
}

/** Runs the command; resolves with the exit code, or undefined for `start`, which runs until a signal ends it. */
async function main(argv: string[]): Promise<number | undefined> {
  const command = parseLaterzArgs(argv);
  switch (command.kind) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return EXIT.ok;
    case 'version':
      process.stdout.write(`${(JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version}\n`);
      return EXIT.ok;
    case 'usage-error':
      process.stderr.write(`laterz: ${command.message}\n\n${USAGE}\n`);
      return EXIT.usage;
    case 'migrate': {
      const [{ AppConfig }, { migrateConfigured }] = await Promise.all([import('../config/app-config.js'), import('../database/migrate.js')]);
      const applied = await migrateConfigured(AppConfig.fromEnv());
      process.stdout.write(applied.length > 0 ? `applied: ${applied.join(', ')}\n` : 'no pending migrations\n');
      return EXIT.ok;
    }
    case 'start':
      await start(command.handlers);
      return undefined;
  }
}

const command = process.argv[2];
main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    // EnvValidationError by name: its module is loaded only by the commands that read the settings.
    if (err instanceof HandlersFileError || (err instanceof Error && err.name === 'EnvValidationError')) console.error(`laterz: ${err.message}`);
    else console.error(`laterz ${command === 'migrate' ? 'migrate failed' : 'failed to start'}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(EXIT.failed);
  },
);
