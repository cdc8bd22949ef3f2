import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { LATERZ_DATA_SOURCE } from '../database/database.module.js';
import { CollectionEntity } from './collection.entity.js';
import { CollectionGateway } from './collection.gateway.js';

/** Collections: made from COLLECTIONS at boot, listed and toggled by the scheduler and the API. */
@Injectable()
export class CollectionsService implements OnApplicationBootstrap {
  private readonly logger = new Logger(CollectionsService.name);

  constructor(
    @InjectRepository(CollectionEntity, LATERZ_DATA_SOURCE) private readonly repo: Repository<CollectionEntity>,
    private readonly config: AppConfig,
    private readonly gateway: CollectionGateway,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const c of this.config.collections) {
      await this.repo
        .createQueryBuilder()
        .insert()
        .values({ name: c.name, process: c.process, sync: c.sync, options: c.root ? { root: c.root } : {} })
        .orUpdate(['process', 'sync', 'options'], ['name'])
        .execute();
    }
    if (this.config.collections.length > 0) this.logger.log(`collections from config: ${this.config.collections.map((c) => c.name).join(', ')}`);
  }

  /** Every collection (enqueue makes the row of a new one). */
  list(): Promise<CollectionEntity[]> {
    return this.repo.find({ order: { name: 'ASC' } });
  }

  get(name: string): Promise<CollectionEntity | null> {
    return this.repo.findOneBy({ name });
  }

  /** Creates or updates a collection (the demo uses it). */
  async upsert(name: string, values: { process?: boolean; sync?: boolean; options?: Record<string, unknown> }): Promise<void> {
    await this.gateway.upsert(name, values);
  }
}
