import { Body, Controller, Get, NotFoundException, Param, Patch, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { principalName } from './admin-tokens.js';
import type { Principal } from './admin-tokens.js';
import { CurrentPrincipal } from './auth.guard.js';
import { CollectionsAdmin } from './collections-admin.service.js';
import { CollectionListResponse, CollectionStatsResponse, CollectionView } from './dto/admin-responses.dto.js';
import { UpdateCollectionBody } from './dto/collections.dto.js';
import { CollectionNameParams } from './dto/task-params.dto.js';
import { ApiGuarded } from './openapi.js';
import { NoParams } from './validation.pipe.js';

@ApiTags('collections')
@ApiGuarded()
@Controller('api/collections')
export class CollectionsController {
  constructor(private readonly collections: CollectionsAdmin) {}

  @Get()
  @ApiOperation({ summary: 'Collections with their flags and saved stats' })
  @ApiOkResponse({ type: CollectionListResponse })
  list(@Query(NoParams) _query: unknown): Promise<CollectionListResponse> {
    return this.collections.list();
  }

  @Get(':name/stats')
  @ApiOperation({ summary: 'The stats the stats job last saved for a collection (null before its first run)' })
  @ApiOkResponse({ type: CollectionStatsResponse })
  async stats(@Param() params: CollectionNameParams, @Query(NoParams) _query: unknown): Promise<CollectionStatsResponse> {
    const stats = await this.collections.stats(params.name);
    if (!stats) throw notFound(params.name);
    return stats;
  }

  @Patch(':name')
  @ApiOperation({ summary: 'Toggle process / sync' })
  @ApiOkResponse({ type: CollectionView, description: 'The collection as it is now' })
  async update(@Param() params: CollectionNameParams, @Body() body: UpdateCollectionBody, @Query(NoParams) _query: unknown, @CurrentPrincipal() who: Principal): Promise<CollectionView> {
    const row = await this.collections.update(params.name, { process: body.process, sync: body.sync }, principalName(who));
    if (!row) throw notFound(params.name);
    return row;
  }
}

function notFound(name: string): NotFoundException {
  return new NotFoundException(`collection "${name}" does not exist`);
}
