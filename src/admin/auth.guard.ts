import { CanActivate, createParamDecorator, ExecutionContext, ForbiddenException, Injectable, Type, UnauthorizedException } from '@nestjs/common';
import { HealthController } from '../health/health.controller.js';
import { AdminTokens, Principal } from './admin-tokens.js';

/** Controllers that answer without a token: the health probes (/health/live, /health/ready). */
const PUBLIC_CONTROLLERS: readonly Type[] = [HealthController];

/** Methods a viewer token may use; every other method needs an operator token. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The parts of an Express request the guard reads (@types/express is not a dependency). */
interface AuthedRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
}

/**
 * Deny by default: registered as a global guard, it runs before every route of the app. A route
 * answers without a token only if its controller is one of the public ones (health); every other
 * one needs `Authorization: Bearer <token>` (401), and anything but a read needs an operator
 * token (403). Every answer of a guarded route says `Cache-Control: no-store`. (/docs is served
 * by Swagger outside Nest's router and is public by design.)
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(private readonly tokens: AdminTokens) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return false;
    const controller = context.getClass();
    if (PUBLIC_CONTROLLERS.includes(controller)) return true;

    const request = context.switchToHttp().getRequest<AuthedRequest>();
    // What a token may read, no cache (a browser's, a proxy's) may keep; so are the refusals.
    context.switchToHttp().getResponse<{ setHeader(name: string, value: string): void }>().setHeader('Cache-Control', 'no-store');
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!bearer) throw new UnauthorizedException('a bearer token is required: Authorization: Bearer <token>');
    const principal = this.tokens.match(bearer[1]);
    if (!principal) throw new UnauthorizedException('the bearer token is not valid');
    if (!READ_METHODS.has(request.method) && principal.role !== 'operator') {
      throw new ForbiddenException(`a ${principal.role} token can only read: ${request.method} needs an operator token`);
    }
    request.principal = principal;
    return true;
  }
}

/** The principal the guard authenticated (controllers of guarded routes only). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthedRequest>().principal;
  if (!principal) throw new UnauthorizedException('a bearer token is required: Authorization: Bearer <token>');
  return principal;
});
