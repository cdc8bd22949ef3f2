import { Module } from '@nestjs/common';
import { CollectionsModule } from '../collections/collections.module.js';
import { TasksModule } from '../tasks/tasks.module.js';
import { CollectionRoots } from './collection-roots.js';
import { DemoProgress } from './demo-progress.service.js';
import { PipelineDemo } from './pipeline-demo.js';
import { PipelineTasks } from './pipeline.tasks.js';

/** The reference pipeline: its task handlers and the demo collection. Its routes are PipelineApiModule's. */
@Module({
  imports: [TasksModule, CollectionsModule],
  providers: [CollectionRoots, PipelineTasks, DemoProgress, PipelineDemo],
})
export class PipelineModule {}
