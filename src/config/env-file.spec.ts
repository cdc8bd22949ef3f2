import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig } from './app-config.js';
import { parseEnvFile, withEnvFile } from './env-file.js';
import { EnvValidationError } from './env.schema.js';

describe('parseEnvFile', () => {
  it('reads NAME=value lines, export, comments, blank lines, quotes and escapes', () => {
    const text = [
      '\uFEFF# a comment',
      'PLAIN=value with spaces   ',
      '  export EXPORTED = 2',
      '',
      'EMPTY=',
      'COMMENTED=abc # trailing comment',
      'HASH=pass#word',
      "SINGLE='keeps \\n and # as they are'",
      'DOUBLE="line\\nnext \\"quoted\\" \\\\ end"  # comment',
      'MULTI="first',
      'second"',
      'URL=postgres://u:p@h:5432/db?sslmode=require',
    ].join('\r\n');
    const { values, problems } = parseEnvFile(text);
    expect(problems).toEqual([]);
    expect(values).toEqual({
      PLAIN: 'value with spaces',
      EXPORTED: '2',
      EMPTY: '',
      COMMENTED: 'abc',
      HASH: 'pass#word',
      SINGLE: 'keeps \\n and # as they are',
      DOUBLE: 'line\nnext "quoted" \\ end',
      MULTI: 'first\nsecond',
      URL: 'postgres://u:p@h:5432/db?sslmode=require',
    });
  });

  it('names every bad line, and never what it holds', () => {
    const { problems } = parseEnvFile(
      ['OK=1', 'just words', 'DATABASE_URL postgres://u:s3cret@h/db', '9LIVES=x', 'TRAIL="a" b', 'OK=2', 'OPEN="never closed', 'MORE=1'].join('\n'),
    );
    expect(problems).toEqual([
      'line 2: not a NAME=value line',
      'line 3: not a NAME=value line',
      'line 4: the name must be letters, digits and _, not starting with a digit',
      'line 5: text after the closing quote (only a # comment may follow)',
      'line 6: OK is set a second time (first on line 1)',
      'line 7: the " quote opened here is never closed',
    ]);
    expect(problems.join('\n')).not.toContain('s3cret');
  });
});

describe('.env.example', () => {
  it('copied to .env, is read without a problem and validates (its values are the defaults)', () => {
    const { values, problems } = parseEnvFile(readFileSync(join(process.cwd(), '.env.example'), 'utf8'));
    expect(problems).toEqual([]);
    expect(Object.keys(values).length).toBeGreaterThan(40);
    // Every typed setting, without the raw variables each was made from.
    const settings = (config: AppConfig) => ({ ...config, raw: undefined });
    expect(settings(AppConfig.fromEnv(values))).toEqual(settings(AppConfig.fromEnv({})));
  });
});

describe('withEnvFile', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'laterz-envfile-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('puts the process environment over the file: a set variable wins, an empty one counts as unset', () => {
    writeFileSync(join(dir, '.env'), 'PORT=4000\nROLES=api\nLOG_LEVEL=debug\n');
    const env = withEnvFile({ PORT: '5000', ROLES: '', HOME: '/root' }, dir);
    expect(env).toEqual({ PORT: '5000', ROLES: 'api', LOG_LEVEL: 'debug', HOME: '/root' });
    const config = AppConfig.fromEnv(env);
    expect(config.port).toBe(5000);
    expect(config.logLevel).toBe('debug');
  });

  it('is the environment alone when there is no .env', () => {
    expect(withEnvFile({ PORT: '5000' }, dir)).toEqual({ PORT: '5000' });
  });

  it('reads the file ENV_FILE names, relative to the working directory', () => {
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'prod.env'), 'PORT=4100\n');
    writeFileSync(join(dir, '.env'), 'PORT=4000\n');
    expect(withEnvFile({ ENV_FILE: 'conf/prod.env' }, dir)).toMatchObject({ PORT: '4100' });
  });

  it('refuses a missing ENV_FILE, an unreadable file and a bad line, naming the file', () => {
    expect(() => withEnvFile({ ENV_FILE: 'nope.env' }, dir)).toThrow(`ENV_FILE=nope.env: ${join(dir, 'nope.env')} cannot be read (no such file)`);
    mkdirSync(join(dir, '.env'));
    expect(() => withEnvFile({}, dir)).toThrow(`${join(dir, '.env')} cannot be read (it is a folder)`);
    rmSync(join(dir, '.env'), { recursive: true });
    writeFileSync(join(dir, '.env'), 'PORT=1\nnonsense\n');
    let error: unknown;
    try {
      withEnvFile({}, dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EnvValidationError);
    expect((error as EnvValidationError).problems).toEqual([`${join(dir, '.env')} line 2: not a NAME=value line`]);
  });
});
