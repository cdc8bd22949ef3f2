import { createRequire } from 'node:module';

/** LOG_FORMAT=pretty asked for pino-pretty where it is not installed (a production install). */
export class PrettyLogsUnavailable extends Error {
  constructor() {
    super(
      'LOG_FORMAT=pretty needs the pino-pretty package, which this install lacks (a devDependency: ' +
        '`npm ci --omit=dev` and the Docker image leave it out). Use LOG_FORMAT=json (or auto: pretty ' +
        'only on a terminal with pino-pretty installed), or install pino-pretty.',
    );
    this.name = 'PrettyLogsUnavailable';
  }
}

/** Whether pino-pretty can be loaded from here (pino resolves its transport target the same way). */
export function prettyInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * The format the logs are written in. auto: pretty on a terminal when pino-pretty is installed,
 * JSON otherwise (a production install on a terminal, `docker run -t`, must not crash over its logs).
 * pretty without pino-pretty is an error at boot rather than JSON the operator did not ask for.
 */
export function resolveLogFormat(format: 'auto' | 'json' | 'pretty', stdoutIsTty: boolean, hasPretty: boolean): 'json' | 'pretty' {
  if (format === 'pretty' && !hasPretty) throw new PrettyLogsUnavailable();
  if (format === 'auto') return stdoutIsTty && hasPretty ? 'pretty' : 'json';
  return format;
}
