import { Type, UseFilters, UseGuards, UseInterceptors, UsePipes } from '@nestjs/common';
import { AuditController } from './audit.controller.js';
import { AdminAuthGuard } from './auth.guard.js';
import { BodyPolicyInterceptor } from './body-policy.interceptor.js';
import { CollectionsController } from './collections.controller.js';
import { AdminExceptionFilter } from './http-exception.filter.js';
import { MetricsController } from './metrics.controller.js';
import { QueuesController } from './queues.controller.js';
import { SchedulesController } from './schedules.controller.js';
import { TasksController } from './tasks.controller.js';
import { AdminValidationPipe } from './validation.pipe.js';

/** The admin API's controllers. */
export const ADMIN_CONTROLLERS: readonly Type[] = [TasksController, QueuesController, CollectionsController, SchedulesController, AuditController, MetricsController];

/**
 * Who guards the admin routes, validates their input and maps their errors:
 * - `app`: the service, where they are the whole app's (the token guard as APP_GUARD; setupHttp
 *   installs the pipe, the filter and the body policy globally);
 * - `own`: an app that mounts laterz beside routes of its own, which none of those may touch: each
 *   admin controller carries them itself.
 */
export type AdminRoutesScope = 'app' | 'own';

/** The admin controllers for `scope`: as they are for the service; subclasses carrying their own guard, pipe, filter and interceptor otherwise. */
export function adminControllers(scope: AdminRoutesScope): Type[] {
  return scope === 'app' ? [...ADMIN_CONTROLLERS] : ADMIN_CONTROLLERS.map(withOwnHttp);
}

/**
 * A subclass of `controller` (same routes, same dependencies, same OpenAPI: all read through the
 * prototype chain) with the enhancers the service installs app-wide, so that they apply to these
 * routes only. A subclass per app, not a decorated original: the service's controllers stay as they are.
 */
function withOwnHttp(controller: Type): Type {
  const scoped = class extends controller {};
  Object.defineProperty(scoped, 'name', { value: controller.name });
  UseGuards(AdminAuthGuard)(scoped);
  UsePipes(new AdminValidationPipe())(scoped);
  UseFilters(new AdminExceptionFilter())(scoped);
  UseInterceptors(BodyPolicyInterceptor)(scoped);
  return scoped;
}
