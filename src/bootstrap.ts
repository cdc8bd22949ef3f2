import { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { setupHttp } from './admin/setup-http.js';
import { AppModule } from './app.module.js';
import { AppConfig } from './config/app-config.js';
import { DATABASE_URL } from './database/database.module.js';
import { LaterzDatabase } from './database/laterz-database.js';
import { AppLogger } from './logging/app-logger.js';
import { ShutdownSignals } from './shutdown-signals.js';

export interface Running {
  app: INestApplication;
  config: AppConfig;
  url: string;
  /** Stops taking work, finishes or hands back running tasks, closes pools, stops the embedded server. */
  shutdown(signal?: string): Promise<void>;
}

/**
 * Starts the service: LaterzModule (AppModule) resolves the database (DATABASE_URL, or an embedded
 * server under DATA_DIR) and applies migrations under an advisory lock before the modules of the
 * configured roles start; then the service's HTTP setup, and listen.
 */
export async function bootstrap(
  config: AppConfig = AppConfig.fromEnv(),
  options: { handleSignals?: boolean; imports?: DynamicModule['imports'] } = {},
): Promise<Running> {
  // Installed first: a signal while laterz starts must end the embedded server it may have started.
  const signals = options.handleSignals !== false ? new ShutdownSignals() : undefined;
  // Opened by the app (an async provider), stopped here too should the app fail to start.
  const database = new LaterzDatabase(config);
  try {
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, database, options.imports), {
      bufferLogs: true,
      abortOnError: false,
      // setupHttp registers the one parser (JSON) after its size check; Nest's defaults would add forms.
      bodyParser: false,
    });
    app.useLogger(app.get(AppLogger));
    setupHttp(app, config);
    await app.listen(config.port);
    const url = app.get<string>(DATABASE_URL);
    const logger = app.get(AppLogger);
    logger.log(
      `laterz up on :${config.port} (roles ${[...config.roles].join(',')}, ` +
        `${config.databaseUrl ? 'external' : 'embedded'} PostgreSQL, ${config.amqp.url ? 'RabbitMQ' : 'PostgreSQL'} queue)`,
      'Bootstrap',
    );

    let closing: Promise<void> | undefined;
    const shutdown = (signal?: string) =>
      (closing ??= (async () => {
        logger.log(`shutting down${signal ? ` on ${signal}` : ''}`, 'Bootstrap');
        // The embedded server stops with the app, last.
        await app.close();
        await database.stop();
      })());
    signals?.up(shutdown, (line) => logger.warn(line, 'Bootstrap'));
    return { app, config, url, shutdown };
  } catch (err) {
    await database.stop().catch(() => undefined);
    throw err;
  }
}
