import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EnqueueWriter } from './enqueue-writer.js';
import { PublishOnCommit } from './publish-on-commit.js';
import { TaskAdminService } from './task-admin.service.js';
import { TaskRegistry } from './task-registry.js';
import { TasksService } from './tasks.service.js';

/**
 * Handlers, the registry, the enqueue/retry/cancel API; every role has it, and every role of a
 * process uses its one instance (the api role passes its own pool per call).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [TaskRegistry, EnqueueWriter, PublishOnCommit, TasksService, TaskAdminService],
  exports: [TaskRegistry, TasksService, TaskAdminService],
})
export class TasksModule {}
