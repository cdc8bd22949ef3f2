import { Module } from '@nestjs/common';
import { HandlerGuard } from './handler-guard.js';

/**
 * The process's handler guard, one instance for every role that runs handlers (the worker's runner,
 * the scheduler's bulk runner) and for the metrics that count its escapes.
 */
@Module({
  providers: [HandlerGuard],
  exports: [HandlerGuard],
})
export class HandlerGuardModule {}
