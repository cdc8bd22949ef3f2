import { DynamicModule, Global, Module } from '@nestjs/common';
import { INLINE_RUNS } from '../tasks/inline-runs.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { DriverGateway } from './driver.gateway.js';
import { WorkDriver } from './work-driver.js';

/**
 * Work moved by its caller (LaterzModule's `inline`, LaterzTesting): the driver, and in inline mode
 * the hook TasksService calls after each enqueue. Global, so that TasksService finds the hook.
 */
@Global()
@Module({})
export class DrivenModule {
  static forRoot(options: { inline: boolean }): DynamicModule {
    const inline = options.inline ? [{ provide: INLINE_RUNS, useExisting: WorkDriver }] : [];
    return {
      module: DrivenModule,
      imports: [TasksModule],
      providers: [DriverGateway, WorkDriver, ...inline],
      exports: [WorkDriver, ...(options.inline ? [INLINE_RUNS] : [])],
    };
  }
}
