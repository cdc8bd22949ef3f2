import { DynamicModule, FactoryProvider, Global, Module, ModuleMetadata } from '@nestjs/common';
import { AppConfig } from './app-config.js';
import { LaterzSetup } from './laterz-options.js';

/** A setup made when Nest builds the app, from the app's own providers (LaterzModule.forRootAsync). */
export interface AsyncSetup {
  imports?: ModuleMetadata['imports'];
  inject?: FactoryProvider['inject'];
  useFactory: (...deps: never[]) => Promise<LaterzSetup>;
}

/** Makes the one validated AppConfig (and the setup it came with) injectable everywhere. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(setup: LaterzSetup | AsyncSetup): DynamicModule {
    return {
      module: ConfigModule,
      imports: setup instanceof LaterzSetup ? [] : (setup.imports ?? []),
      providers: [
        setup instanceof LaterzSetup
          ? { provide: LaterzSetup, useValue: setup }
          : { provide: LaterzSetup, inject: setup.inject ?? [], useFactory: setup.useFactory as (...deps: unknown[]) => Promise<LaterzSetup> },
        { provide: AppConfig, inject: [LaterzSetup], useFactory: (s: LaterzSetup) => s.config },
      ],
      exports: [AppConfig, LaterzSetup],
    };
  }
}
