import { CanActivate, createParamDecorator, ExecutionContext, ForbiddenException, Injectable, SetMetadata, Type, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ADMIN_ROLES } from '../config/env.schema.js';
import { HealthController } from '../health/health.controller.js';
import { AdminRole, AdminTokens, Principal } from './admin-tokens.js';

/** Controllers that answer without a token: the health probes (/health/live, /health/ready). */
const PUBLIC_CONTROLLERS: readonly Type[] = [HealthController];

/** Methods every token may use (a viewer's); a route of another method needs an operator token unless it says otherwise (@RequiresRole). */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const REQUIRED_ROLE = 'laterz:admin-required-role';

/**
 * The least role a route that is not a read needs, when it is less than operator: `@RequiresRole('enqueuer')`
 * on enqueue. Roles are ranked (ADMIN_ROLES, weakest first): a stronger token may do what a weaker one may.
 */
export const RequiresRole = (role: Exclude<AdminRole, 'viewer'>): MethodDecorator => SetMetadata(REQUIRED_ROLE, role);

/** What a token of each role may do, and which tokens a route needing each role takes: as a refusal says them. */
const MAY: Record<AdminRole, string> = {
  viewer: 'a viewer token can only read',
  enqueuer: 'an enqueuer token can only enqueue and read',
  operator: 'an operator token may do anything',
};
const TAKES: Record<AdminRole, string> = {
  viewer: 'any token',
  enqueuer: 'an enqueuer or operator token',
  operator: 'an operator token',
};

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
 * token (403) unless the route names a lesser role (`@RequiresRole('enqueuer')`: enqueue). A
 * refusal names the role the route needs. Every answer of a guarded route says
 * `Cache-Control: no-store`. (/docs is served by Swagger outside Nest's router and is public by design.)
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(
    private readonly tokens: AdminTokens,
    private readonly reflector: Reflector,
  ) {}

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
    const needed: AdminRole = READ_METHODS.has(request.method) ? 'viewer' : (this.reflector.get<AdminRole | undefined>(REQUIRED_ROLE, context.getHandler()) ?? 'operator');
    assertMay(principal, needed, request.method);
    request.principal = principal;
    return true;
  }
}

/**
 * 403 unless `principal`'s role is at least `needed`, worded as the guard's refusals (`what`: the
 * method, or an option of a route that needs more than the route itself: `retry: true` on enqueue).
 */
export function assertMay(principal: Principal, needed: AdminRole, what: string): void {
  if (ADMIN_ROLES.indexOf(principal.role) < ADMIN_ROLES.indexOf(needed)) {
    throw new ForbiddenException(`${MAY[principal.role]}: ${what} needs ${TAKES[needed]}`);
  }
}

/** The principal the guard authenticated (controllers of guarded routes only). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthedRequest>().principal;
  if (!principal) throw new UnauthorizedException('a bearer token is required: Authorization: Bearer <token>');
  return principal;
});
