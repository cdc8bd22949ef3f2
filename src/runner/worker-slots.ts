import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';

/** Counts the tasks this process runs against WORKER_CONCURRENCY; consumers wait for a free slot. */
@Injectable()
export class WorkerSlots {
  private readonly capacity: number;
  private used = 0;
  private waiters: (() => void)[] = [];

  constructor(config: AppConfig) {
    this.capacity = config.worker.concurrency;
  }

  get running(): number {
    return this.used;
  }

  free(): number {
    return Math.max(0, this.capacity - this.used);
  }

  /** Resolves with the number of free slots once there is at least one. */
  async wait(): Promise<number> {
    while (this.free() === 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.free();
  }

  /** Resolves once nothing runs (or never, while something does). */
  async idle(): Promise<void> {
    while (this.used > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  take(n: number): void {
    this.used += n;
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
