import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { insertTasks } from '../factories/task.factory.js';
import { createTestDatabase } from '../helpers/databases.js';
import { freePort, ready, ROOT, ServiceProcess, startNode, stopIfRunning } from '../helpers/service-process.js';

/** The built service, started from another working directory than the repository's. */
const MAIN = join(ROOT, 'dist/src/main.js');
const TOKEN = 'dotenv-operator-token-0123456789';

describe('.env in the working directory of the service process', () => {
  let dir: string;
  let db: { url: string; drop: () => Promise<void> };
  let proc: ServiceProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'laterz-dotenv-'));
  });
  afterEach(async () => {
    await stopIfRunning(proc);
    proc = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('is read at boot, and a variable set in the environment wins over it', async () => {
    const pool = new Pool({ connectionString: db.url, max: 1, options: '-c search_path=laterz' });
    const [taskId] = await insertTasks(pool, [{ func: 'dotenv.marker', status: 'success' }]);
    await pool.end();
    const filePort = await freePort();
    const envPort = await freePort();
    writeFileSync(
      join(dir, '.env'),
      [
        '# laterz settings of this test',
        `DATABASE_URL=${db.url}`,
        `ADMIN_TOKENS="operator:${TOKEN}"   # quoted, with a comment`,
        '',
        `export PORT=${filePort}`,
        'ROLES=api',
        'LOG_FORMAT=json',
        "PIPELINE_ENABLED='false'",
      ].join('\n'),
    );
    // The environment's PORT wins over the file's; the rest comes from .env (the default ENV_FILE).
    // DATA_DIR cannot be made: a service that ignored .env's DATABASE_URL would fail to start.
    proc = startNode(MAIN, { PORT: String(envPort), ENV_FILE: '', DATA_DIR: '/dev/null/data' }, { cwd: dir });
    await ready(proc, envPort);

    // The database and the token are the ones .env names.
    const res = await fetch(`http://127.0.0.1:${envPort}/api/tasks/${taskId}`, { headers: { authorization: `Bearer ${TOKEN}`, connection: 'close' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ task: { id: taskId, func: 'dotenv.marker' } });
    expect(proc.stdout).toContain(`laterz up on :${envPort}`);
  }, 60000);

  /** Set in the environment (it wins over .env): a service that got past reading .env fails to connect instead. */
  const unreachable = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', ENV_FILE: '' };

  it('refuses to start on a .env with a bad line, naming the file and every bad line (never its content)', async () => {
    writeFileSync(join(dir, '.env'), ['PORT=3000', 'this is not a setting', 'ROLES=api', 'DATABASE_URL postgres://u:s3cret-pw@h/db', '1BAD=x'].join('\n'));
    proc = startNode(MAIN, unreachable, { cwd: dir });
    expect(await proc.exited).not.toBe(0);
    expect(proc.stderr).toContain(join(dir, '.env'));
    expect(proc.stderr).toMatch(/line 2: /);
    expect(proc.stderr).toMatch(/line 4: /);
    expect(proc.stderr).toMatch(/line 5: /);
    expect(proc.stderr).not.toMatch(/line (1|3): /);
    expect(proc.stderr).not.toContain('s3cret-pw');
  }, 60000);

  it('refuses to start when .env exists but cannot be read', async () => {
    // A folder named .env: unreadable as a file even for root (whom file permissions do not stop).
    mkdirSync(join(dir, '.env'));
    proc = startNode(MAIN, unreachable, { cwd: dir });
    expect(await proc.exited).not.toBe(0);
    expect(proc.stderr).toContain(`${join(dir, '.env')} cannot be read`);
  }, 60000);

  it('refuses to start when ENV_FILE names a file that does not exist (a missing default .env is fine)', async () => {
    proc = startNode(MAIN, { ...unreachable, ENV_FILE: 'settings.env' }, { cwd: dir });
    expect(await proc.exited).not.toBe(0);
    expect(proc.stderr).toContain(`ENV_FILE=settings.env: ${join(dir, 'settings.env')} cannot be read`);
  }, 60000);
});
