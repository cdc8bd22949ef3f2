import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EnqueueWriter } from './enqueue-writer.js';
import { HandlerGuard } from './handler-guard.js';
import { PublishOnCommit } from './publish-on-commit.js';
import { TaskRegistry } from './task-registry.js';
import { TasksService } from './tasks.service.js';

/** Handlers, the registry, the enqueue/retry API and the handler guard; every role has it. */
@Module({
  imports: [DiscoveryModule],
  providers: [TaskRegistry, EnqueueWriter, PublishOnCommit, TasksService, HandlerGuard],
  exports: [TaskRegistry, TasksService, HandlerGuard],
})
export class TasksModule {}
