import { DynamicModule, FactoryProvider, Module, ModuleMetadata } from '@nestjs/common';
import { RouterModule } from '@nestjs/core';
import { AdminModule } from './admin/admin.module.js';
import type { AdminRoutesScope } from './admin/admin-routes.js';
import { BrokerModule } from './broker/broker.module.js';
import { CollectionsModule } from './collections/collections.module.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import type { Role } from './config/env.schema.js';
import {
  InvalidLaterzOptions,
  type LaterzApiOptions,
  type LaterzOptions,
  LaterzSetup,
  laterzSetup,
  laterzShape,
  type LaterzShape,
} from './config/laterz-options.js';
import { DatabaseModule } from './database/database.module.js';
import { DrivenModule } from './driven/driven.module.js';
import { LaterzDatabase } from './database/laterz-database.js';
import { ENGINE_ENTITIES } from './entities.js';
import { HealthModule } from './health/health.module.js';
import { BulkModule } from './maintenance/bulk/bulk.module.js';
import { DispatchModule } from './maintenance/dispatch/dispatch.module.js';
import { DueModule } from './maintenance/due/due.module.js';
import { ExpiryModule } from './maintenance/expiry/expiry.module.js';
import { MaintenanceModule } from './maintenance/maintenance.module.js';
import { PeriodicModule } from './maintenance/periodic/periodic.module.js';
import { StatsModule } from './maintenance/stats/stats.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { WorkerModule } from './runner/worker.module.js';
import { SchedulesModule } from './schedules/schedules.module.js';
import { TasksModule } from './tasks/tasks.module.js';

/** What `forRootAsync`'s factory returns: every option but those that decide the modules (`roles`, `api.prefix`, `inline`), which forRootAsync takes itself. */
export type LaterzFactoryOptions = Omit<LaterzOptions, 'roles' | 'api' | 'inline'> & { api?: Pick<LaterzApiOptions, 'tokens'> };

export interface LaterzAsyncOptions {
  /** Modules whose providers the factory injects (your ConfigModule). */
  imports?: ModuleMetadata['imports'];
  inject?: FactoryProvider['inject'];
  // The factory's parameters are whatever `inject` names: typed by the caller.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  useFactory: (...deps: any[]) => LaterzFactoryOptions | Promise<LaterzFactoryOptions>;
  /** As in forRoot. Here, not in the factory: Nest builds the role modules before the factory runs. */
  roles?: Role[];
  /** As in forRoot (the tokens may come from the factory instead). Here, not in the factory: Nest mounts the routes before it runs. */
  api?: false | LaterzApiOptions;
  /** As in forRoot. Here, not in the factory: it decides the modules. */
  inline?: boolean;
}

/** How the modules are put together: the same for an app and for the service. */
interface Composition {
  shape: LaterzShape;
  /** The settings, or how to make them once the app's providers are there. */
  setup: LaterzSetup | Parameters<typeof ConfigModule.forRoot>[0];
  /** Known now (forRoot, the service): the admin tokens are resolved before Nest builds anything. */
  config?: AppConfig;
  /** The service opens the database itself (so that it can stop the embedded server if the app fails to start). */
  database?: LaterzDatabase;
  routes: AdminRoutesScope;
}

/**
 * laterz in a Nest app: the engine (enqueue, the database, the transport) and the roles the options
 * name (worker: runs the app's `@TaskHandler` providers; scheduler: the maintenance jobs; the admin
 * API under a prefix). `TasksService` is injectable anywhere in the app. The database is opened
 * (an embedded server started, migrations applied) before any provider uses it, and an embedded
 * server is stopped when the app closes. The service (src/bootstrap.ts) is this module too.
 */
@Module({})
export class LaterzModule {
  /** laterz on options known now. Throws InvalidLaterzOptions, naming each wrong field, at once. */
  static forRoot(options: LaterzOptions = {}): DynamicModule {
    const setup = laterzSetup(options);
    return compose({ shape: laterzShape(options), setup, config: setup.config, routes: 'own' });
  }

  /**
   * laterz on options made by `useFactory` from the app's own providers (`inject`, from `imports`).
   * `roles` and `api` are given here, not by the factory; wrong options throw InvalidLaterzOptions
   * here or, for what the factory returns, when Nest builds the app.
   */
  static forRootAsync(options: LaterzAsyncOptions): DynamicModule {
    const shape = laterzShape(options);
    const useFactory = async (...deps: unknown[]): Promise<LaterzSetup> => laterzSetup(merged(options, shape, await options.useFactory(...deps)));
    return compose({ shape, setup: { imports: options.imports, inject: options.inject, useFactory }, routes: 'own' });
  }

  /**
   * @internal The service (src/app.module.ts): its settings from the environment, its roles from
   * ROLES, the admin API (with the api role) at the root of an app that is laterz's alone.
   */
  static forService(config: AppConfig, database: LaterzDatabase): DynamicModule {
    const shape: LaterzShape = { roles: [...config.roles], apiPrefix: config.has('api') ? '' : false, drive: 'consumers' };
    return compose({ shape, setup: new LaterzSetup(config, true), config, database, routes: 'app' });
  }

  /**
   * @internal LaterzTesting: laterz moved by its caller (`setup.drive`), on the database LaterzTesting
   * opens and stops itself.
   */
  static forTesting(setup: LaterzSetup, database: LaterzDatabase): DynamicModule {
    const shape: LaterzShape = { roles: [...setup.config.roles], apiPrefix: false, drive: setup.drive };
    return compose({ shape, setup, config: setup.config, database, routes: 'own' });
  }
}

/** forRootAsync's own `roles` and `api` with what its factory `made`; throws naming a field the factory may not give. */
function merged(options: LaterzAsyncOptions, shape: LaterzShape, made: LaterzFactoryOptions): LaterzOptions {
  const given = (made ?? {}) as LaterzOptions;
  const problems: string[] = [];
  const late = 'give it to forRootAsync itself, not from useFactory: Nest builds the modules before the factory runs';
  if (given.roles !== undefined) problems.push(`roles: ${late}`);
  if ((given as LaterzOptions).inline !== undefined) problems.push(`inline: ${late}`);
  if (given.api && given.api.prefix !== undefined) problems.push(`api.prefix: ${late}`);
  if (given.api && shape.apiPrefix === false) problems.push(`api: the admin API is not mounted; ${late}`);
  if (problems.length > 0) throw new InvalidLaterzOptions(problems);
  const api = shape.apiPrefix === false ? false : { tokens: (given.api || undefined)?.tokens ?? (options.api || undefined)?.tokens, prefix: shape.apiPrefix };
  return { ...given, roles: options.roles, api, inline: options.inline };
}

function compose({ shape, setup, config, database, routes }: Composition): DynamicModule {
  const has = (role: Role) => shape.roles.includes(role);
  const api = shape.apiPrefix !== false;
  // Moved by the caller: the worker's consumer takes nothing by itself and no timer runs the jobs.
  const driven = shape.drive !== 'consumers';
  // The service answers health probes whatever its roles; an app has its own, and gets laterz's with its API.
  const health = routes === 'app' || api ? [HealthModule] : [];
  const mounted = api && shape.apiPrefix !== '' ? [RouterModule.register([{ path: shape.apiPrefix as string, module: AdminModule }, { path: shape.apiPrefix as string, module: HealthModule }])] : [];
  return {
    module: LaterzModule,
    // TasksService (and the collections) for every module of the app, which imports LaterzModule once.
    global: true,
    imports: [
      ConfigModule.forRoot(setup),
      DatabaseModule.forRoot(ENGINE_ENTITIES, database),
      BrokerModule,
      TasksModule,
      CollectionsModule,
      SchedulesModule,
      ...health,
      StatsModule,
      ...(has('worker') ? [WorkerModule.forRoot({ observedBy: MetricsModule })] : []),
      ...(api ? [AdminModule.forRoot({ config, scope: routes })] : []),
      // The scheduler role: the maintenance scheduler and the jobs only it runs (stats, above, is
      // read by every role).
      ...(has('scheduler') ? [...(driven ? [] : [MaintenanceModule]), DispatchModule, DueModule, BulkModule, PeriodicModule, ExpiryModule] : []),
      ...(driven ? [DrivenModule.forRoot({ inline: shape.drive === 'inline' })] : []),
      ...mounted,
    ],
    exports: [TasksModule, CollectionsModule, SchedulesModule],
  };
}
