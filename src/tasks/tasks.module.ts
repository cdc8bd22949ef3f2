import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EnqueueWriter } from './enqueue-writer.js';
import { PublishOnCommit } from './publish-on-commit.js';
import { TaskRegistry } from './task-registry.js';
import { TasksService } from './tasks.service.js';

/** Handlers, the registry and the enqueue/retry API; every role has it. */
@Module({
  imports: [DiscoveryModule],
  providers: [TaskRegistry, EnqueueWriter, PublishOnCommit, TasksService],
  exports: [TaskRegistry, TasksService],
})
export class TasksModule {}
