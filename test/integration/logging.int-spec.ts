import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase } from '../helpers/databases.js';
import { productionInstall } from '../helpers/production-install.js';
import { freePort, pgrep, ready, ServiceProcess, startNode, stopIfRunning } from '../helpers/service-process.js';

/** Nest's own lines about wiring modules and routes: noise at info, there for debugging. */
const NEST_WIRING = ['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication'];

/** The JSON lines of a process's output (a terminal's \r\n too). */
function jsonLines(output: string): Record<string, unknown>[] {
  return output
    .split(/\r?\n/)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the process log of the service', () => {
  let db: { url: string; drop: () => Promise<void> };
  let proc: ServiceProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await stopIfRunning(proc, 'SIGTERM');
    proc = undefined;
  }, 60000);
  afterAll(async () => {
    await db?.drop();
  });

  const env = (port: number, more: Record<string, string> = {}) => ({
    DATABASE_URL: db.url,
    ROLES: 'api,worker',
    PORT: String(port),
    ADMIN_TOKENS: 'operator:logging-test-token-0123456789',
    PIPELINE_ENABLED: 'false',
    LOG_FORMAT: 'json',
    ...more,
  });

  it("keeps Nest's module and route wiring at debug: not at info, there at debug", async () => {
    const port = await freePort();
    proc = startNode('dist/src/main.js', env(port, { LOG_LEVEL: 'info' }));
    await ready(proc, port);
    const atInfo = jsonLines(proc.stdout);
    expect(atInfo.filter((l) => NEST_WIRING.includes(l.context as string))).toEqual([]);
    expect(atInfo.some((l) => l.level === 30 && String(l.msg).startsWith(`laterz up on :${port}`))).toBe(true);
    await stopIfRunning(proc, 'SIGTERM');

    const debugPort = await freePort();
    proc = startNode('dist/src/main.js', env(debugPort, { LOG_LEVEL: 'debug' }));
    await ready(proc, debugPort);
    const wiring = jsonLines(proc.stdout).filter((l) => NEST_WIRING.includes(l.context as string));
    expect(new Set(wiring.map((l) => l.context))).toEqual(new Set(NEST_WIRING));
    expect(wiring.every((l) => l.level === 20)).toBe(true);
  }, 90000);

  describe('in a production install (npm ci --omit=dev: no pino-pretty)', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await productionInstall();
    }, 60000);
    afterAll(async () => {
      // The service under script(1): end any process of this install (by pid) before removing it.
      for (const pid of await pgrep(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it('LOG_FORMAT=auto on a terminal falls back to JSON lines', async () => {
      const port = await freePort();
      proc = startNode(join(dir, 'dist/src/main.js'), env(port, { LOG_FORMAT: 'auto', LOG_LEVEL: 'info' }), { cwd: dir, tty: true });
      await ready(proc, port);
      expect(jsonLines(proc.stdout).some((l) => String(l.msg).startsWith(`laterz up on :${port}`))).toBe(true);
    }, 60000);

    it('LOG_FORMAT=pretty stops the boot with a message that says what is missing and what to do', async () => {
      proc = startNode(join(dir, 'dist/src/main.js'), env(await freePort(), { LOG_FORMAT: 'pretty' }), { cwd: dir });
      expect(await proc.exited).toBe(1);
      expect(proc.stderr).toContain('LOG_FORMAT=pretty needs the pino-pretty package');
      expect(proc.stderr).toContain('LOG_FORMAT=json');
    }, 60000);
  });
});
