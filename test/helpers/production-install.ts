import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { ROOT } from './service-process.js';

/** The packages `npm ci --omit=dev` would install: paths under node_modules, relative to the repository. */
async function productionPackages(): Promise<string[]> {
  const stdout = await new Promise<string>((res, rej) =>
    // npm ls exits 1 on a mere warning (an extraneous package, say): its list is what counts.
    execFile('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, out) =>
      out ? res(out) : rej(err ?? new Error('npm ls printed nothing')),
    ),
  );
  const modules = join(ROOT, 'node_modules') + sep;
  const paths = stdout
    .split('\n')
    .filter((p) => p.startsWith(modules))
    .map((p) => relative(ROOT, p))
    .sort();
  // A package's folder is copied whole, nested node_modules included.
  const top: string[] = [];
  for (const p of paths) if (!top.some((t) => p.startsWith(t + sep))) top.push(p);
  return top;
}

/**
 * The built service as a production image holds it (`npm ci --omit=dev`, then dist/): a temporary
 * folder with package.json, dist/ and only the production dependencies, hard-linked from this
 * checkout (cheap, and nothing of the checkout is changed). The caller removes the folder.
 */
export async function productionInstall(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'laterz-prod-'));
  for (const p of await productionPackages()) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    execFileSync('cp', ['-al', join(ROOT, p), join(dir, p)]);
  }
  execFileSync('cp', ['-al', join(ROOT, 'dist'), join(dir, 'dist')]);
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  return dir;
}
