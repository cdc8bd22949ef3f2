import { DynamicModule, Logger, Module } from '@nestjs/common';
import { AppConfig, CollectionsModule, DATABASE_URL, TasksModule } from '../../src/index.js';
import { CollectionRoots } from './collection-roots.js';
import { DemoProgress } from './demo-progress.service.js';
import { PipelineApiModule } from './pipeline-api.module.js';
import { PipelineDemo } from './pipeline-demo.js';
import { migratePipeline } from './pipeline-schema.js';
import { PipelinePoolsModule } from './pipeline-pools.js';
import { PipelineTasks } from './pipeline.tasks.js';

/** Resolved once the pipeline's migrations are applied. */
export const PIPELINE_SCHEMA = Symbol('PIPELINE_SCHEMA');

/**
 * The reference pipeline, an app on the engine: its task handlers, the demo collection and, with the
 * api role, its search and browse routes. The engine knows nothing of it: the service passes it to
 * bootstrap's `imports` (src/main.ts).
 */
@Module({})
export class PipelineModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: PipelineModule,
      imports: [TasksModule, CollectionsModule, PipelinePoolsModule, ...(config.has('api') ? [PipelineApiModule] : [])],
      providers: [
        {
          // An async provider: Nest resolves it before any lifecycle hook, so the tables exist before
          // a worker runs a handler, the demo enqueues its walk or the HTTP server takes a request.
          provide: PIPELINE_SCHEMA,
          inject: [AppConfig, DATABASE_URL],
          useFactory: async (appConfig: AppConfig, url: string): Promise<string[]> => {
            const applied = await migratePipeline(appConfig, url);
            if (applied.length > 0) new Logger(PipelineModule.name).log(`pipeline migrations applied: ${applied.join(', ')}`);
            return applied;
          },
        },
        CollectionRoots,
        PipelineTasks,
        DemoProgress,
        PipelineDemo,
      ],
    };
  }
}
