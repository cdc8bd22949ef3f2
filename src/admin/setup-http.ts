import { PayloadTooLargeException } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AdminExceptionFilter } from './http-exception.filter.js';
import { AdminValidationPipe } from './validation.pipe.js';

/** Largest request body, bytes (JSON and form bodies are also limited by their parsers). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The HTTP side of the api role: global validation and error mapping, a 64 KB limit on bodies of
 * any type, and the OpenAPI docs at /docs (JSON at /docs/json), which need no token.
 */
export function setupAdminHttp(app: NestExpressApplication): void {
  app.useBodyParser('urlencoded', { limit: MAX_BODY_BYTES, extended: false });
  app.use((req: { headers: Record<string, unknown> }, _res: unknown, next: (err?: unknown) => void) => {
    const length = Number(req.headers['content-length']);
    next(Number.isFinite(length) && length > MAX_BODY_BYTES ? new PayloadTooLargeException() : undefined);
  });
  app.useGlobalPipes(new AdminValidationPipe());
  app.useGlobalFilters(new AdminExceptionFilter());
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('laterz admin API')
      .setDescription('Inspect, retry, cancel and watch tasks. Every route but /health/* and /docs needs `Authorization: Bearer <token>`; viewers read, operators also mutate.')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/json', yamlDocumentUrl: 'docs/yaml' });
}
