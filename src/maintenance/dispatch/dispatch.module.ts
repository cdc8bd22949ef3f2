import { Module } from '@nestjs/common';
import { CollectionsModule } from '../../collections/collections.module.js';
import { TasksModule } from '../../tasks/tasks.module.js';
import { DispatcherService } from './dispatcher.service.js';

@Module({
  imports: [TasksModule, CollectionsModule],
  providers: [DispatcherService],
  exports: [DispatcherService],
})
export class DispatchModule {}
