import { applyDecorators, Type } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { ApiBearerAuth, ApiDefaultResponse, ApiExtraModels, ApiOkResponse, DocumentBuilder, getSchemaPath, SwaggerModule } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger';
import { ErrorBody } from './dto/error-body.dto.js';

/** The name of the one security scheme (what @ApiBearerAuth() refers to by default). */
export const BEARER_SCHEME = 'bearer';

/** Any JSON value (task args and results): OpenAPI 3.0 has no `any` type, so each kind is listed. */
export const JSON_VALUE_SCHEMA = {
  nullable: true,
  oneOf: [{ type: 'object', additionalProperties: true }, { type: 'array', items: {} }, { type: 'string' }, { type: 'number' }, { type: 'boolean' }] as SchemaObject[],
};

/** A route behind the bearer token: the scheme, and the ErrorBody every refusal or failure answers with. */
export const ApiGuarded = (): ClassDecorator & MethodDecorator =>
  applyDecorators(
    ApiBearerAuth(BEARER_SCHEME),
    ApiExtraModels(ErrorBody),
    ApiDefaultResponse({ description: 'An error: 400 names the bad fields, 401/403 the token, 404, 409, 413, 415, 429 (QueueFull: cap and depth), 503', type: ErrorBody }),
  );

/** A 200 whose body is one of `types` (a mutation by filter answers a dry run's count or what it did). */
export const ApiOkOneOf = (description: string, ...types: Type[]): MethodDecorator =>
  applyDecorators(ApiExtraModels(...types), ApiOkResponse({ description, schema: { oneOf: types.map((t) => ({ $ref: getSchemaPath(t) })) } }));

/** The OpenAPI document of the app's routes, served at /docs (JSON at /docs/json, YAML at /docs/yaml) without a token. */
export function setupOpenApi(app: NestExpressApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('laterz admin API')
      .setDescription(
        'Inspect, enqueue, retry, cancel and watch tasks. Every route but /health/* and /docs needs `Authorization: Bearer <token>`: ' +
          'a viewer token reads; an enqueuer token also enqueues (POST /api/tasks); an operator token also retries, cancels, purges and updates collections. ' +
          'A token whose role is not enough gets 403, its message naming the role the route needs.',
      )
      // addBearerAuth() would call the token a JWT: it is an opaque string of ADMIN_TOKENS.
      .addSecurity(BEARER_SCHEME, {
        type: 'http',
        scheme: 'bearer',
        description:
          'An opaque token of ADMIN_TOKENS (or, embedded, <DATA_DIR>/admin-token): a viewer token reads, an enqueuer token also enqueues, an operator token also changes.',
      })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/json', yamlDocumentUrl: 'docs/yaml' });
}
