import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { TaskRegistry } from '../../src/index.js';
import { PipelinePools } from './pipeline-pools.js';
import { FuncStatusCount, formatIngested, formatProgress, IngestProgress, sameProgress, summariseIngest } from './ingest-progress.js';
import { INGEST_COUNTS, rows } from './sql/pipeline.sql.js';

/** How often the counts are read while the demo is being ingested. */
const POLL_MS = 2000;
/** A progress line at most this often (and only when something moved): a log, not a ticker. */
const PROGRESS_EVERY_MS = 5000;

/** Whether a check logs a progress line: something changed, and the last line is old enough. */
export function progressDue(last: IngestProgress | undefined, now: IngestProgress, msSinceLast: number): boolean {
  return (last === undefined || !sameProgress(last, now)) && msSinceLast >= PROGRESS_EVERY_MS;
}

type WatchState = 'idle' | 'watching' | 'done' | 'stopped';

/**
 * Watches one collection's ingestion through its task counts (func x status, from the database,
 * so it sees every worker's work): a progress line when something moved, at most every few
 * seconds, and one line once every task has finished. Used for the demo collection.
 */
@Injectable()
export class DemoProgress implements OnModuleDestroy {
  private readonly logger = new Logger(DemoProgress.name);
  private state: WatchState = 'idle';
  private collection = '';
  private timer?: NodeJS.Timeout;
  private lastLogged?: IngestProgress;
  private lastLoggedAt = 0;
  private failing = false;
  /** Checks run one at a time (the timer's and a caller's). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pools: PipelinePools,
    private readonly registry: TaskRegistry,
  ) {}

  /** The collection's progress now. */
  async read(collection: string): Promise<IngestProgress> {
    const funcs = this.registry.all();
    const counts = await rows<FuncStatusCount>(this.pools.work, INGEST_COUNTS, [collection, funcs.map((f) => f.name), funcs.map((f) => f.version)]);
    return summariseIngest(counts);
  }

  /** Starts watching `collection`, whose progress at boot was `atBoot`: nothing to watch if it is done. */
  watch(collection: string, atBoot: IngestProgress): void {
    if (this.state !== 'idle') throw new Error(`already watching "${this.collection}"`);
    this.collection = collection;
    this.lastLogged = atBoot;
    this.lastLoggedAt = Date.now();
    if (atBoot.done) {
      this.state = 'done';
      return;
    }
    this.state = 'watching';
    this.timer = setInterval(() => void this.runOnce(), POLL_MS);
    this.timer.unref();
  }

  /**
   * One check while watching: logs a progress line when due, and the done line (once) when every
   * task has finished, after which the watch ends. Returns the progress read, if it read one.
   */
  runOnce(): Promise<IngestProgress | undefined> {
    const next = this.chain.then(() => this.check());
    this.chain = next.catch(() => undefined);
    return next;
  }

  onModuleDestroy(): Promise<unknown> {
    this.stop('stopped');
    return this.chain;
  }

  private async check(): Promise<IngestProgress | undefined> {
    if (this.state !== 'watching') return undefined;
    let now: IngestProgress;
    try {
      now = await this.read(this.collection);
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.logger.warn(`${this.collection}: could not read its progress: ${(err as Error).message}`);
      this.failing = true;
      return undefined;
    }
    if (this.state !== 'watching') return now;
    if (now.done) {
      this.stop('done');
      this.logger.log(`${this.collection}: ingested: ${formatIngested(now)}`);
    } else if (progressDue(this.lastLogged, now, Date.now() - this.lastLoggedAt)) {
      this.lastLogged = now;
      this.lastLoggedAt = Date.now();
      this.logger.log(formatProgress(this.collection, now));
    }
    return now;
  }

  private stop(state: 'done' | 'stopped'): void {
    this.state = state;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
