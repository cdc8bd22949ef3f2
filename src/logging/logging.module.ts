import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../config/app-config.js';
import { AppLogger } from './app-logger.js';
import { prettyInstalled, resolveLogFormat } from './log-format.js';
import { loggableUrl } from './loggable-url.js';

/** Paths pino removes from every line: credentials and task arguments never reach a log. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'args',
  '*.args',
  'password',
  '*.password',
  'url',
  'databaseUrl',
  'amqpUrl',
];

/**
 * Structured JSON logs (human-readable on a terminal with pino-pretty) through nestjs-pino;
 * AppLogger is the application's logger. Throws PrettyLogsUnavailable for LOG_FORMAT=pretty
 * without pino-pretty.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig, stdoutIsTty = process.stdout.isTTY === true, hasPretty = prettyInstalled()): DynamicModule {
    const pretty = resolveLogFormat(config.logFormat, stdoutIsTty, hasPretty) === 'pretty';
    return {
      module: LoggingModule,
      providers: [AppLogger],
      exports: [AppLogger],
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
            transport: pretty ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
            autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health') },
            customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'debug'),
            // No stack trace leaves the process, not even into the log: type and message only.
            customErrorMessage: (_req, res) => `request failed with status ${res.statusCode}`,
            serializers: {
              err: (err: Error) => ({ type: err?.name, message: err?.message }),
              req: (req: { method: string; url: string; id: unknown }) => ({ id: req.id, method: req.method, url: loggableUrl(req.url) }),
            },
          },
        }),
      ],
    };
  }
}
