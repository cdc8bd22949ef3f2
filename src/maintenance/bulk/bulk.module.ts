import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { CollectionsModule } from '../../collections/collections.module.js';
import { HandlerGuardModule } from '../../runner/run/handler-guard.module.js';
import { TasksModule } from '../../tasks/tasks.module.js';
import { BulkBatchService } from './bulk-batch.service.js';
import { BulkHooks } from './bulk-hooks.js';
import { BulkGateway } from './bulk.gateway.js';
import { BulkRunnerService } from './bulk-runner.service.js';

@Module({
  imports: [DiscoveryModule, TasksModule, CollectionsModule, HandlerGuardModule],
  providers: [BulkGateway, BulkHooks, BulkBatchService, BulkRunnerService],
  exports: [BulkRunnerService],
})
export class BulkModule {}
