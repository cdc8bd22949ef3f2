import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EnvValidationError } from './env.schema.js';

/** The env file read when ENV_FILE does not name one: `.env` in the working directory. */
export const DEFAULT_ENV_FILE = '.env';

/**
 * ENV_FILE of the processes that laterz's own test, bench and chaos harnesses start: an empty file,
 * so that each runs on the settings it is given and nothing of a developer's `.env` in the working
 * directory (which would fill in whatever the harness leaves unset, AMQP_URL included).
 */
export const NO_ENV_FILE = '/dev/null';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ASSIGNMENT = /^\s*(?:export\s+)?([^=\s]+)\s*=[ \t]*(.*)$/;

/**
 * Parses an env file strictly: `NAME=value` lines (an optional `export ` before the name), blank
 * lines and `#` comments. A value is taken as is up to a ` #` comment (spaces around it trimmed),
 * or quoted: '…' literally, "…" with \n, \r, \t, \" and \\ escapes; either may span lines.
 * Unlike Node's own parser (util.parseEnv, process.loadEnvFile) and dotenv, which skip or merge a
 * line they cannot read without a word, every bad line is an error. The problems name lines, never
 * their content: a malformed line may well hold a password.
 */
export function parseEnvFile(text: string): { values: Record<string, string>; problems: string[] } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const values: Record<string, string> = {};
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const at = i + 1;
    const line = lines[i];
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const m = ASSIGNMENT.exec(line);
    if (!m) {
      problems.push(`line ${at}: not a NAME=value line`);
      continue;
    }
    const [, name, rest] = m;
    let value: string;
    const quote = rest[0];
    if (quote === '"' || quote === "'") {
      const quoted = readQuoted(lines, i, rest, quote);
      if (!quoted) {
        problems.push(`line ${at}: the ${quote} quote opened here is never closed`);
        break;
      }
      i = quoted.lastLine;
      if (quoted.after.trim() !== '' && !/^\s+#/.test(quoted.after)) {
        problems.push(`line ${quoted.lastLine + 1}: text after the closing quote (only a # comment may follow)`);
        continue;
      }
      value = quote === '"' ? unescape(quoted.body) : quoted.body;
    } else {
      value = rest.replace(/(^|\s+)#.*$/, '').trim();
    }
    if (!NAME.test(name)) {
      problems.push(`line ${at}: the name must be letters, digits and _, not starting with a digit`);
      continue;
    }
    const earlier = firstLine.get(name);
    if (earlier !== undefined) {
      problems.push(`line ${at}: ${name} is set a second time (first on line ${earlier})`);
      continue;
    }
    firstLine.set(name, at);
    values[name] = value;
  }
  return { values, problems };
}

/** The quoted value starting in `rest` of line `start`, up to its closing quote (maybe on a later line). */
function readQuoted(lines: string[], start: number, rest: string, quote: string): { body: string; after: string; lastLine: number } | undefined {
  let text = rest.slice(1);
  for (let line = start; ; ) {
    const end = closingQuote(text, quote);
    if (end >= 0) return { body: text.slice(0, end), after: text.slice(end + 1), lastLine: line };
    if (++line >= lines.length) return undefined;
    text += `\n${lines[line]}`;
  }
}

function closingQuote(text: string, quote: string): number {
  for (let i = 0; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return -1;
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' };

function unescape(body: string): string {
  return body.replace(/\\(.)/g, (whole, c: string) => ESCAPES[c] ?? whole);
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
};

/**
 * The environment laterz reads: the env file's values under the process environment's. A variable
 * set (non-empty) in the environment wins over the file; an empty one counts as unset, as it does
 * everywhere in the schema. The file is ENV_FILE (from the environment only), else `.env`, relative
 * to `cwd`; a missing `.env` is no error, a missing ENV_FILE, an unreadable file or a bad line is
 * (EnvValidationError naming the file and each bad line).
 */
export function withEnvFile(env: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): Record<string, string | undefined> {
  const named = env.ENV_FILE !== undefined && env.ENV_FILE !== '';
  const path = resolve(cwd, named ? env.ENV_FILE! : DEFAULT_ENV_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !named) return { ...env };
    const why = READ_ERRORS[code ?? ''] ?? (err as Error).message;
    throw new EnvValidationError([`${named ? `ENV_FILE=${env.ENV_FILE}: ` : ''}${path} cannot be read (${why})`]);
  }
  const { values, problems } = parseEnvFile(text);
  if (problems.length > 0) throw new EnvValidationError(problems.map((p) => `${path} ${p}`));
  const merged: Record<string, string | undefined> = { ...values };
  for (const [name, value] of Object.entries(env)) if (value !== undefined && value !== '') merged[name] = value;
  return merged;
}
