import { applyDecorators, CallHandler, ExecutionContext, Injectable, NestInterceptor, SetMetadata, Type, UnsupportedMediaTypeException } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { Reflector } from '@nestjs/core';
import { ApiBody } from '@nestjs/swagger';
import { Observable } from 'rxjs';
import { validationFailed } from './validation.pipe.js';

/** The one media type the API parses (the JSON body parser is registered with it too). */
export const JSON_MEDIA_TYPE = 'application/json';

const BODY_OPTIONAL = 'laterz:body-optional';

/**
 * Marks a route whose JSON body may be left out because every field has a harmless default
 * (documented as an optional request body). Any other route with a `@Body()` needs one.
 */
export const BodyOptional = (type: Type): MethodDecorator => applyDecorators(SetMetadata(BODY_OPTIONAL, true), ApiBody({ type, required: false }));

/** The parts of an Express request the policy reads (@types/express is not a dependency). */
interface BodyRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  route?: { path?: string };
  is(type: string): string | false | null;
}

/**
 * What a request may carry as a body, decided per route before any pipe runs (after the guard:
 * a caller without a token hears 401 first):
 * - a route without a `@Body()` parameter refuses any body (400), instead of ignoring it and
 *   running with its defaults (a purge given `{"dryRun": true}` in a body would delete);
 * - a route with one accepts only JSON (415 otherwise: a body of another type is never parsed,
 *   so the route would run as if it had got none);
 * - and needs one unless marked `@BodyOptional()` (400: a retry by filter must be asked for).
 */
@Injectable()
export class BodyPolicyInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<BodyRequest>();
    const route = `${request.method} ${request.route?.path ?? ''}`;
    const sent = hasBody(request);
    if (!takesBody(context)) {
      if (sent) throw validationFailed([{ field: 'body', message: `${route} takes no request body` }]);
    } else if (sent && !request.is(JSON_MEDIA_TYPE)) {
      throw new UnsupportedMediaTypeException({
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: `the request body must be JSON (Content-Type: ${JSON_MEDIA_TYPE})`,
        fields: ['body'],
      });
    } else if (!sent && !this.reflector.get<boolean>(BODY_OPTIONAL, context.getHandler())) {
      throw validationFailed([{ field: 'body', message: `${route} needs a JSON request body (Content-Type: ${JSON_MEDIA_TYPE})` }]);
    }
    return next.handle();
  }
}

/** A body is on its way when the request declares a length above zero or a chunked transfer (as type-is decides). */
function hasBody(request: BodyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Whether the handler has a `@Body()` parameter (Nest keeps them as `${paramtype}:${index}` keys). */
function takesBody(context: ExecutionContext): boolean {
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, context.getClass(), context.getHandler().name) as Record<string, unknown> | undefined;
  return Object.keys(args ?? {}).some((key) => key.split(':')[0] === String(RouteParamtypes.BODY));
}
