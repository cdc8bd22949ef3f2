import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';

// What `engines.node` promises (README, "Install"): every Node version it allows is one that each
// runtime dependency (what a user's install brings: the closure of `dependencies` and
// `peerDependencies` in the lockfile, not the dev tools) declares it runs on. A dependency that narrows its range (Nest 12 and TypeORM 1 need 20.19) makes this fail
// until `engines` narrows too, or the exception below is argued.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface LockedPackage {
  version?: string;
  dev?: boolean;
  engines?: { node?: string } | string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; peerDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, LockedPackage> };

/**
 * Runtime dependencies that declare a narrower Node than ours, each with why laterz still supports
 * the versions it leaves out. Keyed by lockfile path and the declared range: a new release that
 * declares another range is looked at again.
 */
const EXCEPTIONS: { path: string; node: string; why: string }[] = [
  {
    path: 'node_modules/nestjs-pino',
    node: '>=22.12.0',
    why: 'every release for Nest 12 (5.x) declares it; the whole test suite runs it on Node 20 (CI, the Docker image)',
  },
  {
    path: 'node_modules/@nestjs/common/node_modules/file-type',
    node: '>=22',
    why: "loaded only by Nest's FileTypeValidator (a dynamic import), which laterz does not use",
  },
];

/** Where Node finds `name` from the package at lockfile path `from`: its own node_modules, then each parent's. */
function resolveFrom(from: string, name: string): string | undefined {
  for (let base = from; ; ) {
    const path = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (lock.packages[path]) return path;
    if (base === '') return undefined;
    const up = base.lastIndexOf('/node_modules/');
    base = up < 0 ? '' : base.slice(0, up);
  }
}

/** What installing `entry` brings: its dependencies, optional ones, and the peers npm installs (not those marked optional). */
function needs(entry: LockedPackage): string[] {
  const optionalPeer = (name: string) => entry.peerDependenciesMeta?.[name]?.optional === true;
  return [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeer(name)),
  ];
}

/**
 * The lockfile's runtime closure: every package reached from the root's dependencies and peer
 * dependencies (Nest, TypeORM: the app's own copies, which laterz runs on), not from its dev ones.
 * npm marks the peers `dev` or not depending on who else needs them, so the flags are not used.
 */
function runtimePackages(): [string, LockedPackage][] {
  const found = new Map<string, LockedPackage>();
  const queue: [string, string[]][] = [['', needs(lock.packages[''])]];
  for (let next = queue.pop(); next; next = queue.pop()) {
    const [from, names] = next;
    for (const name of names) {
      const path = resolveFrom(from, name);
      if (path === undefined) throw new Error(`package-lock.json: ${from || 'the root'} needs ${name}, which is not in it`);
      if (found.has(path)) continue;
      found.set(path, lock.packages[path]);
      queue.push([path, needs(lock.packages[path])]);
    }
  }
  return [...found];
}

function declaredNode(entry: LockedPackage): string | undefined {
  return entry.engines && !Array.isArray(entry.engines) ? entry.engines.node : undefined;
}

/** Runtime packages whose declared `engines.node` leaves out a version our own range allows. */
function narrower(ours: string): { path: string; version?: string; node: string; lowest: boolean }[] {
  return runtimePackages().flatMap(([path, entry]) => {
    const node = declaredNode(entry);
    if (node === undefined || semver.subset(ours, node)) return [];
    return [{ path, version: entry.version, node, lowest: !semver.satisfies(semver.minVersion(ours)!, node) }];
  });
}

describe('engines.node', () => {
  const ours = pkg.engines.node;

  it('is a valid range, read from a lockfile that records engines (v3)', () => {
    expect(semver.validRange(ours)).not.toBeNull();
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    expect(runtimePackages().length).toBeGreaterThan(50);
  });

  it('counts the peer dependencies (the Nest and TypeORM a user installs) among the runtime ones', () => {
    const runtime = runtimePackages().map(([path]) => path);
    expect(Object.keys(pkg.peerDependencies).length).toBeGreaterThan(0);
    for (const name of Object.keys(pkg.peerDependencies)) expect(runtime).toContain(`node_modules/${name}`);
  });

  it('allows only Node versions that every runtime dependency declares, its lowest version included', () => {
    const offenders = narrower(ours)
      .filter((o) => !EXCEPTIONS.some((e) => e.path === o.path && e.node === o.node))
      .map((o) => `${o.path}@${o.version} declares node ${o.node}: leaves out ${o.lowest ? `our lowest, ${semver.minVersion(ours)}` : 'part of our range'} (${ours})`);
    expect(offenders).toEqual([]);
  });

  it('lists as exceptions only dependencies that still need one', () => {
    const found = narrower(ours);
    const stale = EXCEPTIONS.filter((e) => !found.some((o) => o.path === e.path && o.node === e.node)).map((e) => `${e.path} (node ${e.node})`);
    expect(stale).toEqual([]);
  });
});
