import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntitySubscriberInterface, QueryRunner, TransactionCommitEvent, TransactionRollbackEvent } from 'typeorm';
import { Broker, PublishPriority, PublishRef } from '../broker/broker.js';
import { LATERZ_DATA_SOURCE } from '../database/database.module.js';

/**
 * Transactional enqueue: refs written inside a caller's TypeORM transaction are published only
 * after that transaction commits, and dropped if it rolls back.
 */
@Injectable()
export class PublishOnCommit implements EntitySubscriberInterface, OnModuleInit {
  private readonly logger = new Logger(PublishOnCommit.name);
  private readonly pending = new WeakMap<QueryRunner, PublishRef[]>();

  constructor(
    @InjectDataSource(LATERZ_DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly broker: Broker,
  ) {}

  onModuleInit(): void {
    this.dataSource.subscribers.push(this);
  }

  add(runner: QueryRunner, refs: PublishRef[]): void {
    if (refs.length === 0) return;
    const list = this.pending.get(runner) ?? [];
    list.push(...refs);
    this.pending.set(runner, list);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    const runner = event.queryRunner;
    if (runner.isTransactionActive) return; // a savepoint was released; the outer transaction decides
    const refs = this.pending.get(runner);
    this.pending.delete(runner);
    if (refs?.length) {
      void this.broker.publish(refs, PublishPriority.Enqueue).catch((err: Error) => this.logger.warn(`publish after commit failed: ${err.message}`));
    }
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    if (!event.queryRunner.isTransactionActive) this.pending.delete(event.queryRunner);
  }
}
