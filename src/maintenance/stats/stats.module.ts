import { Module } from '@nestjs/common';
import { CollectionsModule } from '../../collections/collections.module.js';
import { TasksModule } from '../../tasks/tasks.module.js';
import { StatsGateway } from './stats.gateway.js';
import { StatsService } from './stats.service.js';

/** The stats service (readable by every role: the API serves the saved rows). */
@Module({
  imports: [TasksModule, CollectionsModule],
  providers: [StatsGateway, StatsService],
  exports: [StatsService],
})
export class StatsModule {}
