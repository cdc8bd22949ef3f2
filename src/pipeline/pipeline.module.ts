import { Module } from '@nestjs/common';
import { CollectionsModule } from '../collections/collections.module.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { CollectionRoots } from './collection-roots.js';
import { DemoProgress } from './demo-progress.service.js';
import { PipelineController } from './pipeline.controller.js';
import { PipelineDemo } from './pipeline-demo.js';
import { PipelineTasks } from './pipeline.tasks.js';
import { SearchService } from './search.service.js';

/** The reference pipeline: its task handlers, the demo collection, search and browse routes. */
@Module({
  imports: [TasksModule, CollectionsModule],
  controllers: [PipelineController],
  providers: [CollectionRoots, PipelineTasks, SearchService, DemoProgress, PipelineDemo],
  exports: [SearchService],
})
export class PipelineModule {}
