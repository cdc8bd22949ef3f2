import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { FuncCatalog } from './func-catalog.js';

const IDLE = 'IDLE';
const BEATING = 'BEATING';
const STOPPED = 'STOPPED';
type HeartbeatState = { mode: typeof IDLE } | { mode: typeof BEATING; timer: NodeJS.Timeout } | { mode: typeof STOPPED };

/**
 * A serving process's record of its funcs (worker and scheduler roles): the first beat at boot,
 * one every FUNC_HEARTBEAT_SECONDS (one statement each), its servers deleted at shutdown. A
 * process that serves nothing (a producer, the api role alone) reads the catalog as often, and
 * records nothing.
 */
@Injectable()
export class FuncHeartbeat implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(FuncHeartbeat.name);
  private state: HeartbeatState = { mode: IDLE };

  constructor(
    private readonly catalog: FuncCatalog,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.catalog.start();
    if (this.state.mode !== IDLE) return;
    const failed = this.catalog.serving ? 'recording the funcs served here failed' : 'reading the funcs failed';
    const timer = setInterval(() => {
      this.catalog.beat().catch((err: Error) => this.logger.warn(`${failed}: ${err.message}`));
    }, this.config.funcHeartbeatMs);
    timer.unref();
    this.state = { mode: BEATING, timer };
  }

  /** Before the worker drains: from now on the dispatcher queues nothing for this process. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.state.mode === BEATING) clearInterval(this.state.timer);
    this.state = { mode: STOPPED };
    await this.catalog.stop().catch((err: Error) => this.logger.warn(`deleting the servers of this process failed: ${err.message}`));
  }
}
