import { Inject, Injectable } from '@nestjs/common';
import type { ClaimedTask } from '../runner/claim/claim-decisions.js';
import { TaskFinisher } from '../runner/finish/task-finisher.js';
import type { Outcome } from '../runner/run/task-outcome.js';
import { TaskMetrics } from './task-metrics.js';

/**
 * The engine's finisher, measured: counts a run once its outcome has landed (a stale attempt's
 * write, which changes nothing, is not counted). Provided in place of TaskFinisher by the worker module.
 */
@Injectable()
export class MeteredTaskFinisher extends TaskFinisher {
  @Inject(TaskMetrics) private readonly metrics!: TaskMetrics;

  override async finish(task: ClaimedTask, outcome: Outcome, log: string): Promise<boolean> {
    const landed = await super.finish(task, outcome, log);
    if (landed && outcome.kind === 'final') this.metrics.finishedTask(task, outcome.status);
    return landed;
  }
}
