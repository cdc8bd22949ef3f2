import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { userSettings } from '../helpers/scratch.js';
import { freePort, pgrep, ready, removeDataDir, ServiceProcess, startNode, stopIfRunning } from '../helpers/service-process.js';

/** The built service, as `npm run start:prod` runs it. */
const MAIN = 'dist/src/main.js';

describe('the built service as a process', () => {
  it('refuses a bad environment, naming every bad variable', async () => {
    const proc = startNode(MAIN, { PORT: 'abc', ROLES: 'foo', DATABASE_URL: 'postgres://nobody:s3cret-pw@127.0.0.1:1/none' });
    try {
      const code = await proc.exited;
      expect(code).not.toBe(0);
      expect(proc.stderr).toMatch(/PORT="abc": .*integer/);
      expect(proc.stderr).toMatch(/ROLES=\["foo"\]: .*api, worker, scheduler/);
      expect(proc.stderr + proc.stdout).not.toContain('s3cret-pw');
    } finally {
      await stopIfRunning(proc);
    }
  }, 60000);

  describe('on an embedded PostgreSQL', () => {
    let dataDir: string;
    let proc: ServiceProcess | undefined;

    beforeAll(() => {
      // 0700, as mktemp makes it: as root, the service opens DATA_DIR to the server's own account itself.
      dataDir = mkdtempSync(join(tmpdir(), 'laterz-boot-'));
    });
    afterAll(async () => {
      await stopIfRunning(proc);
      await removeDataDir(dataDir);
    }, 60000);

    it('boots with no DATABASE_URL, stops on SIGINT/SIGTERM leaving no postgres behind, and finds its data again', async () => {
      const pgPort = await freePort();
      const port = await freePort();
      // A server of its own on a free port (the suite's may be on EMBEDDED_PG_PORT), tables in the user's DB_SCHEMA.
      const schema = userSettings.dbSchema;
      const env = { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: String(port), DB_SCHEMA: schema, LOG_FORMAT: 'json', LOG_LEVEL: 'info' };
      const pgUrl = `postgres://laterz:laterz@127.0.0.1:${pgPort}/laterz`;
      const marker = `boot-test-${pgPort}`;

      // First boot: initialises the data folder, migrates, serves.
      proc = startNode(MAIN, env);
      await ready(proc, port);
      expect(await pgrep(dataDir)).not.toEqual([]);
      const client = new Client({ connectionString: pgUrl });
      await client.connect();
      try {
        await client.query(`INSERT INTO ${schema}.collection (name) VALUES ($1)`, [marker]);
      } finally {
        await client.end();
      }

      proc.child.kill('SIGINT');
      expect(await proc.exited).toBe(0);
      expect(await pgrep(dataDir)).toEqual([]);

      // Second boot on the same folder: the row written before is still there.
      proc = startNode(MAIN, env);
      await ready(proc, port);
      const again = new Client({ connectionString: pgUrl });
      await again.connect();
      try {
        const { rows } = await again.query(`SELECT name FROM ${schema}.collection WHERE name = $1`, [marker]);
        expect(rows).toEqual([{ name: marker }]);
        const { rows: migrations } = await again.query(`SELECT count(*)::int AS n FROM ${schema}.migrations`);
        expect(migrations[0].n).toBeGreaterThan(0);
      } finally {
        await again.end();
      }

      // SIGTERM (what a supervisor sends) stops it the same way.
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(await pgrep(dataDir)).toEqual([]);
    }, 120000);
  });
});
