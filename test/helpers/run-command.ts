import { execFile } from 'node:child_process';

export interface Run {
  /** The exit code, or the signal that ended the command. */
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * The environment of this process without what `npm test` adds (npm_config_local_prefix would make
 * an npm run in another folder install into this repository instead).
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
}

/** Runs `command args` in `cwd` with cleanEnv(); resolves with how it ended, never rejects. */
export function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: cleanEnv(), timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as NodeJS.ErrnoException & { code?: number | string; signal?: string }).signal ?? err.code ?? 1) : 0;
      resolve({ code: code as number | string, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
