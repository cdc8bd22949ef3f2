import { Module } from '@nestjs/common';
import { PipelineController } from './pipeline.controller.js';
import { PipelinePoolsModule } from './pipeline-pools.js';
import { SearchService } from './search.service.js';

/**
 * The pipeline's search and browse routes: started with the api role only (where the token guard
 * is), their statements on the pipeline's API pool (PipelinePools).
 */
@Module({
  imports: [PipelinePoolsModule],
  controllers: [PipelineController],
  providers: [SearchService],
  exports: [SearchService],
})
export class PipelineApiModule {}
