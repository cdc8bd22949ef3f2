import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiGuarded } from '../../src/index.js';
import { CollectionNameParam, FilesQuery, FolderResponse, SearchQuery, SearchResponse } from './pipeline.dto.js';
import { SearchService } from './search.service.js';

/** Search and browse what the reference pipeline ingested. */
@ApiTags('pipeline')
// Served by the api role, behind its token, as the admin API's routes are (the same scheme and ErrorBody).
@ApiGuarded()
@Controller('api/collections/:name')
export class PipelineController {
  constructor(private readonly search: SearchService) {}

  /** Ranked hits with their file paths and highlighted snippets. */
  @Get('search')
  @ApiOperation({ summary: 'Full-text search over what the pipeline ingested: ranked hits, their files and highlighted snippets' })
  @ApiOkResponse({ type: SearchResponse })
  async find(@Param() { name }: CollectionNameParam, @Query() query: SearchQuery): Promise<SearchResponse> {
    await this.mustExist(name);
    return { hits: await this.search.search(name, query.q, query.limit) };
  }

  /** One folder of the walked tree. */
  @Get('files')
  @ApiOperation({ summary: 'One folder of the walked tree: its files (size, digest, type) and folders' })
  @ApiOkResponse({ type: FolderResponse })
  async files(@Param() { name }: CollectionNameParam, @Query() query: FilesQuery): Promise<FolderResponse> {
    await this.mustExist(name);
    return { path: query.path, entries: await this.search.list(name, query.path, query.limit) };
  }

  private async mustExist(name: string): Promise<void> {
    if (!(await this.search.collectionExists(name))) throw new NotFoundException(`collection "${name}" does not exist`);
  }
}
