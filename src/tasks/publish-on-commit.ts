import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import type { DataSource, EntitySubscriberInterface, QueryRunner, TransactionCommitEvent, TransactionRollbackEvent } from 'typeorm';
import { Broker, PublishPriority, PublishRef } from '../broker/broker.js';
import { AppConfig } from '../config/app-config.js';
import type { JoinedTransaction } from '../database/caller-transaction.js';
import { Db } from '../database/db.js';
import { ListenClient } from '../database/listen-client.js';
import type { Queryable } from '../database/queryable.js';
import { EnqueueGateway } from './enqueue.gateway.js';

/** Refs enqueued at one nesting depth of a TypeORM transaction (1: the transaction, 2+: savepoints). */
interface Pending {
  depth: number;
  refs: PublishRef[];
}

/** PostgreSQL's longest channel name; a longer one is refused by pg_notify and truncated by LISTEN. */
const MAX_CHANNEL = 63;

/**
 * Transactional enqueue: the tasks written inside a caller's transaction are published once it
 * commits, never after a rollback (the rows are gone with it).
 * - TypeORM (any DataSource): this object subscribes to the DataSource's transaction events, once
 *   per DataSource, at its first use; a savepoint rolled back drops the refs enqueued inside it.
 * - A pg client: the enqueue also sends, in the transaction, a NOTIFY that PostgreSQL delivers at
 *   the commit. On the PostgreSQL transport it is the workers' own wake-up; on RabbitMQ it goes to a
 *   channel of this process's (`<schema>_enqueued_<id>`), whose LISTEN publishes the tasks still
 *   `queued`.
 * If the process dies between a commit and its publish, the rows stay `queued`: the dispatcher
 * resets them after DISPATCH_QUEUED_GRACE_SECONDS and queues them again.
 */
@Injectable()
export class PublishOnCommit implements EntitySubscriberInterface, OnApplicationShutdown {
  private readonly logger = new Logger(PublishOnCommit.name);
  private readonly pending = new WeakMap<QueryRunner, Pending[]>();
  /** The DataSources this object subscribed to (left at shutdown). */
  private readonly watched = new Set<DataSource>();
  private readonly gateway: (q: Queryable) => EnqueueGateway;
  private readonly channel: string;
  private listening?: Promise<string>;

  constructor(
    private readonly broker: Broker,
    private readonly listen: ListenClient,
    private readonly db: Db,
    config: AppConfig,
  ) {
    this.gateway = EnqueueGateway.forSchema(config.dbSchema);
    this.channel = commitChannel(config.dbSchema, randomBytes(6).toString('hex'));
  }

  /** Publishes `refs` once `tx` commits (see the class comment); on a pg client, sends its NOTIFY now. */
  async afterCommit(tx: Exclude<JoinedTransaction, { kind: 'refused' }>, refs: PublishRef[]): Promise<void> {
    if (refs.length === 0) return;
    if (tx.kind === 'typeorm') {
      this.watch(tx.runner);
      const list = this.pending.get(tx.runner) ?? [];
      list.push({ depth: depthOf(tx.runner), refs });
      this.pending.set(tx.runner, list);
      return;
    }
    const wake = this.broker.wakeChannel();
    const store = this.gateway(tx.q);
    if (wake) await store.notifyIds(wake, []);
    else await store.notifyIds(await this.ownChannel(), refs.map((r) => r.taskId));
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    const runner = event.queryRunner;
    const list = this.pending.get(runner);
    if (!list) return;
    if (runner.isTransactionActive) {
      // A savepoint was released: its enqueues now stand or fall with the level around it.
      const depth = depthOf(runner);
      for (const p of list) p.depth = Math.min(p.depth, depth);
      return;
    }
    this.pending.delete(runner);
    this.publish(list.flatMap((p) => p.refs));
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    const runner = event.queryRunner;
    const list = this.pending.get(runner);
    if (!list) return;
    if (!runner.isTransactionActive) {
      this.pending.delete(runner);
      return;
    }
    // Rolled back to a savepoint: only what was enqueued inside it is gone.
    const depth = depthOf(runner);
    this.pending.set(
      runner,
      list.filter((p) => p.depth <= depth),
    );
  }

  onApplicationShutdown(): void {
    for (const dataSource of this.watched) {
      const i = dataSource.subscribers.indexOf(this);
      if (i >= 0) dataSource.subscribers.splice(i, 1);
    }
    this.watched.clear();
  }

  /** Subscribes to the runner's DataSource once (laterz's own, or an application's). */
  private watch(runner: QueryRunner): void {
    const loose = runner as unknown as { dataSource?: DataSource; connection?: DataSource };
    const dataSource = loose.dataSource ?? loose.connection;
    if (!dataSource || this.watched.has(dataSource)) return;
    this.watched.add(dataSource);
    if (!dataSource.subscribers.includes(this)) dataSource.subscribers.push(this);
  }

  /** LISTENs on this process's channel (once, before the first NOTIFY on it is sent); resolves to its name. */
  private ownChannel(): Promise<string> {
    this.listening ??= this.listen.subscribe(this.channel, { notify: (payload) => void this.publishCommitted(payload) }).then(
      () => this.channel,
      (err: unknown) => {
        this.listening = undefined;
        throw err;
      },
    );
    return this.listening;
  }

  /** A pg client's transaction committed: publishes those of its tasks still `queued`. */
  private async publishCommitted(payload: string): Promise<void> {
    const ids = payload.split(',').filter((id) => id !== '');
    if (ids.length === 0) return;
    try {
      const refs = await this.gateway(this.db).queuedRefs(ids);
      this.publish(refs);
    } catch (err) {
      this.logger.warn(`publish after commit failed: ${(err as Error).message}`);
    }
  }

  private publish(refs: PublishRef[]): void {
    if (refs.length === 0) return;
    void this.broker.publish(refs, PublishPriority.Enqueue).catch((err: Error) => this.logger.warn(`publish after commit failed: ${err.message}`));
  }
}

/**
 * TypeORM keeps a runner's nesting in a protected field (1 in a transaction, n+1 in its n-th
 * savepoint); a runner without it is taken as never nested.
 */
function depthOf(runner: QueryRunner): number {
  const depth = (runner as unknown as { transactionDepth?: unknown }).transactionDepth;
  return typeof depth === 'number' ? depth : 1;
}

/** `<schema>_enqueued_<id>`, within PostgreSQL's 63 bytes (a hash of the schema when it is long). */
export function commitChannel(schema: string, id: string): string {
  const name = `${schema}_enqueued_${id}`;
  return name.length <= MAX_CHANNEL ? name : `enqueued_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}_${id}`;
}
