import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Broker, Consumer, QueueSpec } from '../broker/broker.js';
import { AppConfig } from '../config/app-config.js';
import { FuncCatalog } from '../tasks/func-catalog.js';
import { TaskRunner } from './run/task-runner.js';
import { WorkerSession } from './worker-session.js';
import { WorkerSlots } from './worker-slots.js';

/** How often WORKER_MAX_MINUTES and WORKER_MAX_MEMORY_MB are looked at. */
const LIFETIME_CHECK_MS = 5000;

/**
 * The worker role: consumes the queues of the funcs this process claims and runs them; stops
 * gracefully. When the funcs it claims change (a newer version of one is live elsewhere, or no
 * longer is), it consumes the new set instead.
 */
@Injectable()
export class WorkerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkerService.name);
  private consumer?: { consumer: Consumer; funcs: Set<string> };
  /** Consumer changes, one after the other; shutdown waits for the one in progress. */
  private changing: Promise<void> = Promise.resolve();
  private stopping = false;
  private unsubscribe?: () => void;
  private lifetime?: NodeJS.Timeout;

  constructor(
    private readonly broker: Broker,
    private readonly catalog: FuncCatalog,
    private readonly runner: TaskRunner,
    private readonly session: WorkerSession,
    private readonly slots: WorkerSlots,
    private readonly config: AppConfig,
  ) {}

  /** The queues consumed: every non-bulk func this process claims now (of WORKER_QUEUES, if set). */
  queues(): QueueSpec[] {
    return this.catalog
      .claimable()
      .filter((f) => !f.bulk)
      .map((f) => ({ func: f.name, queue: f.queue }));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.session.onLost((why) => this.runner.abandonAll(`worker session lost: ${why}`));
    this.runner.once('limit', (n: number) => this.recycle(`claimed ${n} tasks (WORKER_MAX_TASKS)`));
    this.watchLifetime();
    // A lost session's lock another session took meanwhile: that task may run there while its
    // handler, deaf to its signal, still runs here. Only this process's end stops the handler.
    this.runner.once('lockLost', (ids: string[]) => {
      this.logger.error(`the locks of ${ids.length} task(s) whose handlers still run here are held elsewhere (${ids.join(', ')}): stopping this worker`);
      process.kill(process.pid, 'SIGTERM');
    });
    // The first beat tells whether a newer version of a func is live already.
    await this.catalog.start();
    await this.consume();
    this.unsubscribe = this.catalog.onClaimableChange(() => {
      this.changing = this.changing.then(() => this.follow()).catch((err: Error) => this.logger.error(`changing the consumed queues failed: ${err.message}`));
    });
    this.logger.log(`worker consuming ${this.consumer?.funcs.size ?? 0} queues (concurrency ${this.config.worker.concurrency}, batch ${this.config.worker.batchSize})`);
  }

  /**
   * WORKER_MAX_MINUTES and WORKER_MAX_MEMORY_MB: looked at every few seconds (and at once for a
   * lifetime shorter than that); either one reached stops the worker as WORKER_MAX_TASKS does.
   */
  private watchLifetime(): void {
    const { maxAgeMs, maxMemoryMb } = this.config.worker;
    if (maxAgeMs === 0 && maxMemoryMb === 0) return;
    const started = Date.now();
    this.lifetime = setInterval(
      () => {
        const rssMb = process.memoryUsage.rss() / 1024 / 1024;
        if (maxAgeMs > 0 && Date.now() - started >= maxAgeMs) this.recycle(`ran ${Math.round((Date.now() - started) / 60_000)} minutes (WORKER_MAX_MINUTES)`);
        else if (maxMemoryMb > 0 && rssMb >= maxMemoryMb) this.recycle(`resident memory ${Math.round(rssMb)} MiB (WORKER_MAX_MEMORY_MB ${maxMemoryMb})`);
      },
      Math.min(LIFETIME_CHECK_MS, maxAgeMs || LIFETIME_CHECK_MS),
    );
    this.lifetime.unref();
  }

  /** Stops this process gracefully (SIGTERM: the same path as an operator's stop), once. */
  private recycle(why: string): void {
    if (this.stopping) return;
    clearInterval(this.lifetime);
    this.stopping = true;
    this.logger.log(`${why}: stopping so the supervisor restarts this worker`);
    process.kill(process.pid, 'SIGTERM');
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.lifetime);
    this.unsubscribe?.();
    await this.changing;
    await this.consumer?.consumer.stop();
    this.consumer = undefined;
    const { finished, handedBack, unsettled } = await this.runner.drain(this.config.shutdownGraceMs);
    const stopped = `worker stopped: ${finished} running tasks finished, ${handedBack} handed back`;
    if (unsettled === 0) {
      await this.session.close();
      this.logger.log(stopped);
      return;
    }
    // Closing the session would release the locks of tasks whose handlers still run: it closes once
    // they have returned, or goes with the process.
    this.logger.warn(`${stopped}; ${unsettled} handler(s) have not returned: their tasks stay locked until they do or this process exits`);
    void this.runner.settled().then(() => this.session.close());
  }

  private async consume(): Promise<void> {
    const queues = this.queues();
    const consumer = await this.broker.consume(
      { queues, batchSize: this.config.worker.batchSize, capacity: () => this.slots.wait() },
      (batch) => this.runner.handleBatch(batch),
    );
    this.consumer = { consumer, funcs: new Set(queues.map((q) => q.func)) };
  }

  /** Consumes the queues of the funcs claimed now, if they are not those consumed. */
  private async follow(): Promise<void> {
    if (this.stopping || !this.consumer) return;
    const wanted = this.queues();
    const consumed = this.consumer.funcs;
    if (wanted.length === consumed.size && wanted.every((q) => consumed.has(q.func))) return;
    await this.consumer.consumer.stop();
    this.consumer = undefined;
    if (this.stopping) return;
    await this.consume();
    this.logger.log(`worker now consuming ${wanted.length} queues (${wanted.map((q) => q.func).join(', ') || 'none'})`);
  }
}
