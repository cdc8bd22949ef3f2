import { PayloadTooLargeException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { AppConfig } from '../config/app-config.js';
import { BodyPolicyInterceptor, JSON_MEDIA_TYPE } from './body-policy.interceptor.js';
import { AdminExceptionFilter } from './http-exception.filter.js';
import { setupOpenApi } from './openapi.js';
import { AdminValidationPipe } from './validation.pipe.js';

/** Largest request body, bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

interface RawRequest {
  headers: Record<string, string | string[] | undefined>;
}
interface RawResponse {
  setHeader(name: string, value: string): void;
}

/**
 * The HTTP server of every role, in the order a request meets it: helmet's security headers on
 * every response (errors and 404s too), a declared Content-Length over 64 KB refused (413) before
 * anything reads the body, then JSON (only) parsed. The app must be created with
 * `bodyParser: false`, so that no other parser (forms) runs. The api role adds its own part
 * (setupAdminHttp).
 */
export function setupHttp(app: NestExpressApplication, config: AppConfig): void {
  app.disable('x-powered-by');
  app.use(
    helmet({
      contentSecurityPolicy: {
        // helmet's default policy suits Swagger UI at /docs (its scripts are files of this origin;
        // its inline styles and data: icons are allowed), but not upgrade-insecure-requests: on a
        // plain-HTTP deployment it sends the browser to https:// for the page's own files.
        directives: { upgradeInsecureRequests: null },
      },
    }),
  );
  app.use((req: RawRequest, res: RawResponse, next: (err?: unknown) => void) => {
    const length = Number(req.headers['content-length']);
    if (!(Number.isFinite(length) && length > MAX_BODY_BYTES)) return next();
    // Answer now and hang up: reading (or draining) megabytes that are refused anyway is the client's cost to pay, not ours.
    res.setHeader('Connection', 'close');
    next(new PayloadTooLargeException());
  });
  app.useBodyParser('json', { limit: MAX_BODY_BYTES, type: JSON_MEDIA_TYPE });
  if (config.has('api')) setupAdminHttp(app);
}

/**
 * The HTTP side of the api role: global validation and error mapping, the body policy of each
 * route (BodyPolicyInterceptor), and the OpenAPI docs at /docs (JSON at /docs/json), which need no token.
 */
function setupAdminHttp(app: NestExpressApplication): void {
  app.useGlobalPipes(new AdminValidationPipe());
  app.useGlobalFilters(new AdminExceptionFilter());
  app.useGlobalInterceptors(new BodyPolicyInterceptor(app.get(Reflector)));
  setupOpenApi(app);
}
