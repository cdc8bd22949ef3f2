import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { JobObserver, JobOutcome } from './maintenance-job.js';
import { JOB_OBSERVER, MaintenanceJob } from './maintenance-job.js';

/** Node's timers hold at most this many milliseconds (a longer one fires after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What one tick of a job came to. */
export type TickResult =
  | { state: 'done'; outcome: JobOutcome; seconds: number }
  | { state: 'failed'; error: Error; seconds: number }
  /** The job's previous run in this process was still going: not started twice. */
  | { state: 'busy' };

interface Scheduled {
  job: MaintenanceJob;
  running?: Promise<TickResult>;
}

/**
 * The scheduler role's one timer owner (River's queue maintainer): every provider marked
 * @MaintenanceJob() runs every `job.every` ms on an interval registered with @nestjs/schedule's
 * registry under the job's name (seconds come from the env, which a static @Cron cannot read).
 * A run still going when the next tick is due is not started twice in this process (the job's
 * advisory lock covers other replicas); a failed run is logged and the next tick runs as usual;
 * every run that was not skipped is reported to the JobObserver (the job-duration metric).
 */
@Injectable()
export class MaintenanceScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(MaintenanceScheduler.name);
  private readonly jobs = new Map<string, Scheduled>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly registry: SchedulerRegistry,
    @Inject(JOB_OBSERVER) private readonly observer: JobObserver,
  ) {}

  onApplicationBootstrap(): void {
    for (const job of this.discover()) {
      this.jobs.set(job.name, { job });
      const timer = setInterval(() => void this.tick(job.name), job.every);
      timer.unref();
      this.registry.addInterval(job.name, timer);
    }
  }

  /** The names of the jobs this scheduler runs. */
  names(): string[] {
    return [...this.jobs.keys()];
  }

  /** One run of `name`, as its timer starts it; a failure of the job is in the result, never thrown. */
  async tick(name: string): Promise<TickResult> {
    const scheduled = this.jobs.get(name);
    if (!scheduled) throw new Error(`no maintenance job named ${JSON.stringify(name)} (jobs: ${this.names().join(', ')})`);
    if (scheduled.running) {
      this.logger.debug(`${name}: previous run still going, tick skipped`);
      return { state: 'busy' };
    }
    const running = this.run(scheduled.job).finally(() => (scheduled.running = undefined));
    scheduled.running = running;
    return running;
  }

  private async run(job: MaintenanceJob): Promise<TickResult> {
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    try {
      const outcome = await job.runOnce();
      const seconds = elapsed();
      if (!outcome.skipped) this.observe(job.name, seconds);
      return { state: 'done', outcome, seconds };
    } catch (err) {
      const seconds = elapsed();
      const error = err instanceof Error ? err : new Error(String(err));
      this.logger.error(`${job.name} failed: ${error.message}`);
      this.observe(job.name, seconds);
      return { state: 'failed', error, seconds };
    }
  }

  /** An observer's failure is its own: logged, and the scheduler carries on. */
  private observe(job: string, seconds: number): void {
    try {
      this.observer.observeJob(job, seconds);
    } catch (err) {
      this.logger.warn(`observing ${job} failed: ${(err as Error).message}`);
    }
  }

  /** The @MaintenanceJob() providers; a malformed one or two with one name is a boot error naming them. */
  private discover(): MaintenanceJob[] {
    const owners = new Map<string, string>();
    const jobs: MaintenanceJob[] = [];
    for (const wrapper of this.discovery.getProviders({ metadataKey: MaintenanceJob.KEY })) {
      const job = wrapper.instance as Partial<MaintenanceJob> | undefined;
      if (!job) continue;
      const owner = String(wrapper.name);
      if (typeof job.name !== 'string' || job.name === '' || typeof job.runOnce !== 'function') {
        throw new Error(`@MaintenanceJob() ${owner} must have a non-empty string name and a runOnce() method`);
      }
      if (!Number.isInteger(job.every) || job.every! < 1 || job.every! > MAX_TIMER_MS) {
        throw new Error(`@MaintenanceJob() ${owner} (${job.name}): every must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${job.every}`);
      }
      const other = owners.get(job.name);
      if (other) throw new Error(`two maintenance jobs named ${JSON.stringify(job.name)}: ${other} and ${owner}`);
      owners.set(job.name, owner);
      jobs.push(job as MaintenanceJob);
    }
    return jobs;
  }
}
