import { DiscoveryService } from '@nestjs/core';

/** What every run of a maintenance job reports, beside its own counts. */
export interface JobOutcome {
  /** True when another run (here or on another replica) held the job's advisory lock: nothing was done. */
  readonly skipped: boolean;
}

/**
 * A periodic job of the scheduler role (River's maintenance services). `runOnce()` is one run: it
 * takes the job's advisory lock (`runExclusive` in job-lock.ts, which also sets the deadline),
 * does its work and returns what it did; tests call it directly instead of waiting for a tick.
 */
export interface MaintenanceJob<Outcome extends JobOutcome = JobOutcome> {
  /** The job's name in logs, in the job-duration metric and in @nestjs/schedule's registry. */
  readonly name: string;
  /** Milliseconds between two runs. */
  readonly every: number;
  runOnce(): Promise<Outcome>;
}

/**
 * Marks a provider as a maintenance job: the scheduler (scheduler.ts) finds it through Nest's
 * DiscoveryService, so it never imports the jobs' modules, and runs it every `every` ms.
 */
export const MaintenanceJob = DiscoveryService.createDecorator<void>();

/** Watches the jobs' runs; the metrics module's TaskMetrics is one (laterz_job_duration_seconds). */
export interface JobObserver {
  /** A run of `job` that was not skipped ended (done or failed) after `seconds`. */
  observeJob(job: string, seconds: number): void;
}

/** The injection token of the scheduler's JobObserver. */
export const JOB_OBSERVER = Symbol('JOB_OBSERVER');
