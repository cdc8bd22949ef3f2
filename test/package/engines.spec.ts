import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';

// What `engines.node` promises (README, "Install"): every Node version it allows is one that each
// runtime dependency (the `dependencies` closure of the lockfile, not the dev tools) declares it
// runs on. A dependency that narrows its range (Nest 12 and TypeORM 1 need 20.19) makes this fail
// until `engines` narrows too, or the exception below is argued.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface LockedPackage {
  version?: string;
  dev?: boolean;
  engines?: { node?: string } | string[];
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
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

/** The lockfile's runtime closure: every installed package npm did not mark dev-only. */
function runtimePackages(): [string, LockedPackage][] {
  return Object.entries(lock.packages).filter(([path, entry]) => path !== '' && !entry.dev);
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
