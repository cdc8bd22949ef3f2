import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CollectionNameParam, FilesQuery, SearchQuery } from './pipeline.dto.js';
import { SearchHit, SearchService, TreeEntry } from './search.service.js';

/** Search and browse what the reference pipeline ingested. */
@ApiTags('pipeline')
@ApiBearerAuth()
@Controller('api/collections/:name')
export class PipelineController {
  constructor(private readonly search: SearchService) {}

  /** Ranked hits with their file paths and highlighted snippets. */
  @Get('search')
  async find(@Param() { name }: CollectionNameParam, @Query() query: SearchQuery): Promise<{ hits: SearchHit[] }> {
    await this.mustExist(name);
    return { hits: await this.search.search(name, query.q, query.limit) };
  }

  /** One folder of the walked tree. */
  @Get('files')
  async files(@Param() { name }: CollectionNameParam, @Query() query: FilesQuery): Promise<{ path: string; entries: TreeEntry[] }> {
    await this.mustExist(name);
    return { path: query.path, entries: await this.search.list(name, query.path, query.limit) };
  }

  private async mustExist(name: string): Promise<void> {
    if (!(await this.search.collectionExists(name))) throw new NotFoundException(`collection "${name}" does not exist`);
  }
}
