import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The packages an app and laterz must share (one Nest container, one TypeORM) are peer
// dependencies of the package (CONTRIBUTING, "The npm package"). The repository installs them as
// dev dependencies; the Docker image keeps the repository's production tree (`npm prune
// --omit=dev`), so the lockfile must not mark them dev-only. examples/hello-dag, a user's app,
// names each at the range laterz asks for.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const read = <T>(path: string): T => JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as T;
const pkg = read<Manifest>('package.json');
const lock = read<{ packages: Record<string, { dev?: boolean }> }>('package-lock.json');
const peers = Object.entries(pkg.peerDependencies ?? {});

describe('peer dependencies', () => {
  it('are Nest, @nestjs/typeorm, TypeORM, reflect-metadata and rxjs, none of them a dependency too', () => {
    expect(peers.map(([name]) => name).sort()).toEqual(['@nestjs/common', '@nestjs/core', '@nestjs/typeorm', 'reflect-metadata', 'rxjs', 'typeorm']);
    expect(peers.filter(([name]) => pkg.dependencies?.[name] !== undefined)).toEqual([]);
  });

  it('are dev dependencies of the repository at the same ranges', () => {
    expect(peers.map(([name]) => [name, pkg.devDependencies?.[name]])).toEqual(peers);
  });

  it('are not dev-only in the lockfile, so that `npm prune --omit=dev` (the Docker image) keeps them', () => {
    expect(peers.map(([name]) => ({ name, locked: `node_modules/${name}` in lock.packages ? 'yes' : 'no', dev: lock.packages[`node_modules/${name}`]?.dev === true }))).toEqual(
      peers.map(([name]) => ({ name, locked: 'yes', dev: false })),
    );
  });

  it('are dependencies of examples/hello-dag at the ranges laterz asks for', () => {
    const app = read<Manifest>('examples/hello-dag/package.json');
    expect(peers.map(([name]) => [name, app.dependencies?.[name]])).toEqual(peers);
    expect(app.dependencies?.laterz).toBe('file:./laterz.tgz');
  });
});
