import { realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DynamicModule, Type } from '@nestjs/common';

/** A Nest module as `imports` takes it: a class decorated with @Module, or a dynamic module (`X.forRoot(…)`). */
export type HandlersModule = Type | DynamicModule;

/** A handlers file `laterz start` was given, loaded: its Nest modules, with their names for the log. */
export interface LoadedHandlers {
  file: string;
  modules: HandlersModule[];
  names: string[];
}

/** A handlers file that cannot be used: missing, failing to load, exporting no module, or on another copy of laterz. */
export class HandlersFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HandlersFileError';
  }
}

/** The keys @Module({ … }) defines on its class (Nest's MODULE_METADATA). */
const MODULE_KEYS = ['imports', 'providers', 'controllers', 'exports'];

function isModuleClass(value: unknown): value is Type {
  return typeof value === 'function' && MODULE_KEYS.some((key) => Reflect.getMetadata(key, value) !== undefined);
}

function isDynamicModule(value: unknown): value is DynamicModule {
  return typeof value === 'object' && value !== null && typeof (value as DynamicModule).module === 'function';
}

const nameOf = (m: HandlersModule): string => (isDynamicModule(m) ? `${m.module.name} (dynamic)` : m.name);

/**
 * The Nest modules of a handlers file's exports: its default export when that is a Nest module
 * (and then that one alone); otherwise every named export that is one. A class counts when
 * @Module gave it metadata (imports, providers, controllers or exports: an empty `@Module({})`
 * holds no handler); an object when it is a dynamic module (`{ module: SomeClass, … }`).
 */
export function pickHandlersModules(exported: Readonly<Record<string, unknown>>): { modules: HandlersModule[]; names: string[] } {
  const isModule = (v: unknown): v is HandlersModule => isModuleClass(v) || isDynamicModule(v);
  const picked = isModule(exported.default) ? [exported.default] : Object.entries(exported).filter(([key, v]) => key !== 'default' && isModule(v)).map(([, v]) => v as HandlersModule);
  return { modules: picked, names: picked.map(nameOf) };
}

/**
 * Refuses a handlers file whose `import 'laterz'` would load another copy of laterz than the
 * service's own (`laterzEntry`, the running laterz's dist/src/index.js): its decorators and
 * TasksService would be strangers to this process's registry and injector, so its handlers would
 * never run, or its providers fail to resolve. A file from which 'laterz' resolves nowhere passes
 * (it may not import laterz; if it does, its import fails with Node's own message).
 */
function assertSameLaterz(file: string, shown: string, laterzEntry: string): void {
  let theirs: string;
  try {
    theirs = realpathSync(createRequire(file).resolve('laterz'));
  } catch {
    return;
  }
  const ours = realpathSync(laterzEntry);
  if (theirs !== ours) {
    throw new HandlersFileError(
      shown,
      `handlers file ${shown}: 'laterz' resolves there to ${theirs}, not to the laterz this service runs (${ours}). ` +
        'Two copies of laterz in one process do not share decorators or services: leave laterz out of the ' +
        "handlers' own node_modules (the service provides it; in the image, put them under /app).",
    );
  }
}

/**
 * Loads each handlers file (paths relative to `cwd`, as given on the command line or in
 * LATERZ_HANDLERS: `from` says which, for the messages) and picks its Nest modules. Throws
 * HandlersFileError naming the file: missing, not a file, on another copy of laterz, failing to
 * load, or exporting no Nest module.
 */
export async function loadHandlersFiles(paths: readonly string[], options: { cwd: string; from: string; laterzEntry: string }): Promise<LoadedHandlers[]> {
  const loaded: LoadedHandlers[] = [];
  for (const path of paths) {
    const file = resolve(options.cwd, path);
    const shown = `${path} (${options.from})`;
    let isFile: boolean;
    try {
      isFile = statSync(file).isFile();
    } catch (err) {
      throw new HandlersFileError(shown, `handlers file ${shown} not found: ${file}`, { cause: err });
    }
    if (!isFile) throw new HandlersFileError(shown, `handlers file ${shown} is not a file: give the compiled .js module itself`);
    assertSameLaterz(file, shown, options.laterzEntry);

    let exported: Record<string, unknown>;
    try {
      exported = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      const detail = err instanceof Error ? (String((err as NodeJS.ErrnoException).code ?? '').startsWith('ERR_') ? err.message : (err.stack ?? err.message)) : String(err);
      throw new HandlersFileError(shown, `handlers file ${shown} failed to load: ${detail}`, { cause: err });
    }
    const { modules, names } = pickHandlersModules(exported);
    if (modules.length === 0) {
      const keys = Object.keys(exported);
      throw new HandlersFileError(
        shown,
        `handlers file ${shown} exports no Nest module (its exports: ${keys.length > 0 ? keys.join(', ') : 'none'}): ` +
          'export a class decorated with @Module({ providers: [YourHandlers] }), as the default export or a named one',
      );
    }
    loaded.push({ file, modules, names });
  }
  return loaded;
}
