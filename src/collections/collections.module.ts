import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CollectionEntity } from './collection.entity.js';
import { CollectionStatsEntity } from './collection-stats.entity.js';
import { CollectionGateway } from './collection.gateway.js';
import { CollectionsService } from './collections.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([CollectionEntity, CollectionStatsEntity])],
  providers: [CollectionGateway, CollectionsService],
  exports: [CollectionsService, TypeOrmModule],
})
export class CollectionsModule {}
