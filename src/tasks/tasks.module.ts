import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EnqueueWriter } from './enqueue-writer.js';
import { FuncCatalog } from './func-catalog.js';
import { FuncHeartbeat } from './func-heartbeat.js';
import { FuncGateway } from './func.gateway.js';
import { PublishOnCommit } from './publish-on-commit.js';
import { TaskAdminService } from './task-admin.service.js';
import { TaskRegistry } from './task-registry.js';
import { TasksService } from './tasks.service.js';

/**
 * Handlers, the registry, the catalog of funcs (this process's and the database's) with the
 * heartbeat that records those served here, the enqueue/retry/cancel API; every role has it, and
 * every role of a process uses its one instance (the api role passes its own pool per call).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [TaskRegistry, FuncGateway, FuncCatalog, FuncHeartbeat, EnqueueWriter, PublishOnCommit, TasksService, TaskAdminService],
  exports: [TaskRegistry, FuncCatalog, TasksService, TaskAdminService],
})
export class TasksModule {}
