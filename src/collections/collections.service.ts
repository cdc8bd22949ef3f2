import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { CollectionEntity } from './collection.entity.js';

/** Collections: made from COLLECTIONS at boot, listed and toggled by the scheduler and the API. */
@Injectable()
export class CollectionsService implements OnApplicationBootstrap {
  private readonly logger = new Logger(CollectionsService.name);

  constructor(
    @InjectRepository(CollectionEntity) private readonly repo: Repository<CollectionEntity>,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const c of this.config.collections) {
      await this.repo
        .createQueryBuilder()
        .insert()
        .values({ name: c.name, process: c.process, sync: c.sync })
        .orUpdate(['process', 'sync'], ['name'])
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

  /** Sets `process` / `sync`; returns the row, or null when there is no such collection. */
  async setFlags(name: string, flags: { process?: boolean; sync?: boolean }): Promise<CollectionEntity | null> {
    const row = await this.get(name);
    if (!row) return null;
    if (flags.process !== undefined) row.process = flags.process;
    if (flags.sync !== undefined) row.sync = flags.sync;
    return this.repo.save(row);
  }
}
