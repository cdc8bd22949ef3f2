import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../helpers/run-command.js';

// The package as a user gets it: `npm pack` of the built repository (dist/, as `npm run build` left
// it: `npm test` builds first), installed into a fresh project outside the repository, where a
// user's TypeScript file must type-check and `import('laterz')` must give the public surface and
// nothing deeper. The install is offline when npm's cache has every package (after one online run
// it does); otherwise it goes to the registry, with one retry.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'consumer');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** What a Nest app on Node 20 installs beside laterz: Node's types and Express's (Nest's HTTP adapter names them). */
const CONSUMER_DEV_DEPS = ['@types/node@^20', '@types/express@^5'];

/** `node --input-type=module -e script` in `cwd`: its stdout, or a failure with stderr. */
async function nodeEval(script: string, cwd: string): Promise<string> {
  const r = await run(process.execPath, ['--input-type=module', '-e', script], cwd, 60_000);
  if (r.code !== 0) throw new Error(`node -e failed (${r.code}) in ${cwd}:\n${r.stderr}`);
  return r.stdout.trim();
}

/** Each export's name and typeof, sorted, as JSON. */
const EXPORTS_OF = (specifier: string): string =>
  `const m = await import(${JSON.stringify(specifier)});` +
  `console.log(JSON.stringify(Object.fromEntries(Object.keys(m).sort().map((k) => [k, typeof m[k]]))));`;

interface Packed {
  filename: string;
  size: number;
  entryCount: number;
  files: { path: string }[];
}

/** Every package under `dir` (a node_modules folder), nested ones too, as paths relative to it (`a`, `@s/b`, `a/node_modules/c`). */
function installedPackages(dir: string, prefix = ''): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const names = entry.name.startsWith('@') ? readdirSync(join(dir, entry.name)).map((n) => `${entry.name}/${n}`) : [entry.name];
    for (const name of names) {
      found.push(prefix + name);
      const nested = join(dir, name, 'node_modules');
      if (existsSync(nested)) found.push(...installedPackages(nested, `${prefix}${name}/node_modules/`));
    }
  }
  return found;
}

/** `npm install` of the tarball: offline first, else online with one retry. Returns the failed attempts' output when all fail. */
async function install(consumer: string, tarball: string): Promise<void> {
  const args = ['install', tarball, ...CONSUMER_DEV_DEPS, '--no-audit', '--no-fund', '--no-save'];
  const failures: string[] = [];
  for (const mode of ['--offline', '--prefer-offline', '--prefer-offline']) {
    const r = await run('npm', [...args, mode], consumer, 180_000);
    if (r.code === 0) return;
    failures.push(`npm ${mode} (${r.code}): ${r.stderr.split('\n').filter((l) => /error/i.test(l)).slice(0, 5).join('\n')}`);
  }
  throw new Error(`npm install of ${tarball} failed:\n${failures.join('\n')}`);
}

describe('the npm package', () => {
  let packDir: string;
  let consumer: string;
  let packed: Packed;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'index.d.ts'))) throw new Error('dist/ has no declarations: run `npm run build` first');
    packDir = mkdtempSync(join(tmpdir(), 'laterz-pack-'));
    consumer = mkdtempSync(join(tmpdir(), 'laterz-consumer-'));
    // The build is the one the tests use (no prepack rebuild under the other test files' feet).
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], ROOT);
    if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}):\n${pack.stderr}`);
    [packed] = JSON.parse(pack.stdout) as Packed[];
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'laterz-consumer', private: true, type: 'module' }, null, 2));
    for (const file of readdirSync(FIXTURE)) copyFileSync(join(FIXTURE, file), join(consumer, file));
    await install(consumer, join(packDir, packed.filename));
  }, 420_000);

  afterAll(() => {
    for (const dir of [packDir, consumer]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is installed in a project outside the repository', () => {
    expect(consumer.startsWith(ROOT + sep)).toBe(false);
    expect(existsSync(join(consumer, 'node_modules', 'laterz', 'package.json'))).toBe(true);
  });

  it("shares its peer dependencies with the app: npm installs them at the app's top level, one copy each", () => {
    // The consumer names none of them: npm (7 and later) installs a package's missing peers.
    const peers = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies);
    expect(peers).toEqual(expect.arrayContaining(['@nestjs/common', '@nestjs/core', 'typeorm']));
    const installed = installedPackages(join(consumer, 'node_modules'));
    const copies = peers.map((name) => ({ name, at: installed.filter((p) => p === name || p.endsWith(`/node_modules/${name}`)) }));
    expect(copies).toEqual(peers.map((name) => ({ name, at: [name] })));
  });

  it("holds the compiled engine, its declarations and the engine's migrations, and nothing else", () => {
    const paths = packed.files.map((f) => f.path);
    const stray = paths.filter((p) => !/^(package\.json|README\.md|dist\/(src|migrations)\/.+\.(js|d\.ts))$/.test(p));
    expect(stray).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'dist/src/index.js', 'dist/src/index.d.ts']));
    // Everything the migration runner imports (dist/src/database/data-source.js → dist/migrations/index.js).
    const migrations = readdirSync(join(ROOT, 'migrations')).filter((f) => f.endsWith('.ts'));
    expect(migrations.length).toBeGreaterThan(1);
    for (const m of migrations) expect(paths).toContain(`dist/migrations/${m.replace(/\.ts$/, '.js')}`);
    // Not the service's entry (it wires in examples/, not shipped), the TypeORM CLI files, tests or maps.
    expect(paths.filter((p) => /^dist\/src\/(main\.|cli\/(?!laterz[^/]*\.js$))|\.spec\.|\.map$|^dist\/(examples|bench|test)\//.test(p))).toEqual([]);
    // The `laterz` bin, with the files it imports from its folder.
    expect(paths.filter((p) => p.startsWith('dist/src/cli/')).sort()).toEqual(['dist/src/cli/laterz-args.js', 'dist/src/cli/laterz.js']);
  });

  it('installs the laterz bin (node_modules/.bin/laterz, executable): --version answers the package version', async () => {
    const bin = join(consumer, 'node_modules', '.bin', 'laterz');
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    const r = await run(process.execPath, [bin, '--version'], consumer);
    expect({ code: r.code, stdout: r.stdout.trim() }).toEqual({ code: 0, stdout: packed.filename.replace(/^laterz-(.+)\.tgz$/, '$1') });
  });

  it('type-checks a TypeScript consumer importing laterz (strict, nodenext, no skipLibCheck)', async () => {
    const r = await run(process.execPath, [TSC, '-p', consumer], consumer);
    expect({ code: r.code, output: r.stdout + r.stderr }).toEqual({ code: 0, output: '' });
  });

  it('exports at run time what the repository build exports from src/index.ts', async () => {
    const installed = JSON.parse(await nodeEval(EXPORTS_OF('laterz'), consumer)) as Record<string, string>;
    const built = JSON.parse(await nodeEval(EXPORTS_OF(join(ROOT, 'dist', 'src', 'index.js')), ROOT)) as Record<string, string>;
    expect(installed).toEqual(built);
    expect(installed).toMatchObject({
      AppConfig: 'function',
      TaskHandler: 'function',
      TasksModule: 'function',
      TasksService: 'function',
      TaskStatus: 'object',
      bootstrap: 'function',
      runMigrationChain: 'function',
    });
  });

  it('refuses a deep import of an internal file (ERR_PACKAGE_PATH_NOT_EXPORTED); its package.json is readable', async () => {
    const deep = await nodeEval(
      "await import('laterz/dist/src/tasks/tasks.service.js').then(() => console.log('imported'), (e) => console.log(e.code));",
      consumer,
    );
    expect(deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    const version = await nodeEval("const p = await import('laterz/package.json', { with: { type: 'json' } }); console.log(p.default.version);", consumer);
    expect(version).toBe(packed.filename.replace(/^laterz-(.+)\.tgz$/, '$1'));
  });
});
