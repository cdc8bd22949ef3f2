import { Inject, Injectable } from '@nestjs/common';
import { TaskClaimer } from '../runner/claim/task-claimer.js';
import { TaskMetrics } from './task-metrics.js';

/**
 * The engine's claimer, measured: batch sizes and the start of each run. Provided in place of
 * TaskClaimer by the worker module; it keeps the parent's constructor (and so its dependencies).
 */
@Injectable()
export class MeteredTaskClaimer extends TaskClaimer {
  @Inject(TaskMetrics) private readonly metrics!: TaskMetrics;

  override async claim(...args: Parameters<TaskClaimer['claim']>): ReturnType<TaskClaimer['claim']> {
    const result = await super.claim(...args);
    this.metrics.claimed(result.taken, result.started);
    return result;
  }
}
