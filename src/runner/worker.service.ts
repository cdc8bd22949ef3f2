import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Broker, Consumer, QueueSpec } from '../broker/broker.js';
import { AppConfig } from '../config/app-config.js';
import { TaskRegistry } from '../tasks/task-registry.js';
import { TaskRunner } from './run/task-runner.js';
import { WorkerSession } from './worker-session.js';
import { WorkerSlots } from './worker-slots.js';

/** The worker role: consumes the queues of this process's funcs and runs them; stops gracefully. */
@Injectable()
export class WorkerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(WorkerService.name);
  private consumer?: Consumer;

  constructor(
    private readonly broker: Broker,
    private readonly registry: TaskRegistry,
    private readonly runner: TaskRunner,
    private readonly session: WorkerSession,
    private readonly slots: WorkerSlots,
    private readonly config: AppConfig,
  ) {}

  /** The queues served: every non-bulk func, or those of WORKER_QUEUES. */
  queues(): QueueSpec[] {
    const wanted = new Set(this.config.worker.queues);
    return this.registry
      .all()
      .filter((f) => !f.bulk && (wanted.size === 0 || wanted.has(f.queue)))
      .map((f) => ({ func: f.name, queue: f.queue }));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.session.onLost((why) => this.runner.abandonAll(`worker session lost: ${why}`));
    this.runner.once('limit', (n: number) => {
      this.logger.log(`claimed ${n} tasks (WORKER_MAX_TASKS): stopping so the supervisor restarts this worker`);
      process.kill(process.pid, 'SIGTERM');
    });
    const queues = this.queues();
    this.consumer = await this.broker.consume(
      { queues, batchSize: this.config.worker.batchSize, onlyListed: this.config.worker.queues.length > 0, capacity: () => this.slots.wait() },
      (batch) => this.runner.handleBatch(batch),
    );
    this.logger.log(`worker consuming ${queues.length} queues (concurrency ${this.config.worker.concurrency}, batch ${this.config.worker.batchSize})`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = undefined;
    const { finished, handedBack } = await this.runner.drain(this.config.shutdownGraceMs);
    await this.session.close();
    this.logger.log(`worker stopped: ${finished} running tasks finished, ${handedBack} handed back`);
  }
}
