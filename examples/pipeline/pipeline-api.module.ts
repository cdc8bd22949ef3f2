import { Module } from '@nestjs/common';
import { AdminPoolModule } from '../../src/index.js';
import { PipelineController } from './pipeline.controller.js';
import { SearchService } from './search.service.js';

/**
 * The pipeline's search and browse routes: started with the api role only (where the token guard
 * is), their statements on the admin pool.
 */
@Module({
  imports: [AdminPoolModule],
  controllers: [PipelineController],
  providers: [SearchService],
  exports: [SearchService],
})
export class PipelineApiModule {}
