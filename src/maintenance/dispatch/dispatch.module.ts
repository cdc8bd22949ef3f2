import { Module } from '@nestjs/common';
import { CollectionsModule } from '../../collections/collections.module.js';
import { TasksModule } from '../../tasks/tasks.module.js';
import { DispatchGateway } from './dispatch.gateway.js';
import { DispatcherService } from './dispatcher.service.js';

@Module({
  imports: [TasksModule, CollectionsModule],
  providers: [DispatchGateway, DispatcherService],
  exports: [DispatcherService],
})
export class DispatchModule {}
