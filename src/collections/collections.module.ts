import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LATERZ_DATA_SOURCE } from '../database/database.module.js';
import { Db } from '../database/db.js';
import { CollectionEntity } from './collection.entity.js';
import { CollectionStatsEntity } from './collection-stats.entity.js';
import { CollectionGateway } from './collection.gateway.js';
import { CollectionsService } from './collections.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([CollectionEntity, CollectionStatsEntity], LATERZ_DATA_SOURCE)],
  providers: [{ provide: CollectionGateway, inject: [Db], useFactory: (db: Db) => new CollectionGateway(db) }, CollectionsService],
  exports: [CollectionsService, TypeOrmModule],
})
export class CollectionsModule {}
