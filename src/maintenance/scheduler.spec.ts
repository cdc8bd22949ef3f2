import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { Injectable, Logger, Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test, TestingModule } from '@nestjs/testing';
import { JOB_OBSERVER, type JobObserver, type JobOutcome, MaintenanceJob } from './maintenance-job.js';
import { MaintenanceScheduler } from './scheduler.js';

/** A job whose runs do what `run` says; counts its calls. */
@Injectable()
@MaintenanceJob()
class FakeJob implements MaintenanceJob {
  calls = 0;

  constructor(
    readonly name: string,
    readonly every: number,
    private readonly run: () => Promise<JobOutcome> = async () => ({ skipped: false }),
  ) {}

  runOnce(): Promise<JobOutcome> {
    this.calls++;
    return this.run();
  }
}

/** A provider that is not a job: the scheduler leaves it alone. */
@Injectable()
class NotAJob {
  readonly name = 'not-a-job';
  readonly every = 1000;
  runOnce = jest.fn(async () => ({ skipped: false }));
}

/** What the observer was told, in order. */
class RecordingObserver implements JobObserver {
  readonly runs: { job: string; seconds: number }[] = [];
  observeJob(job: string, seconds: number): void {
    this.runs.push({ job, seconds });
  }
}

const asJob = (job: object, token: string): Provider => ({ provide: token, useValue: job });

/** A module with the scheduler, the given jobs (by token) and the observer; initialised (timers registered). */
async function schedulerWith(jobs: Record<string, object>, observer: JobObserver = new RecordingObserver()): Promise<TestingModule> {
  const module = await Test.createTestingModule({
    imports: [ScheduleModule.forRoot(), DiscoveryModule],
    providers: [MaintenanceScheduler, NotAJob, { provide: JOB_OBSERVER, useValue: observer }, ...Object.entries(jobs).map(([token, job]) => asJob(job, token))],
  }).compile();
  await module.init();
  return module;
}

/** A promise and its resolver, for a run that ends when the test says so. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('MaintenanceScheduler', () => {
  let module: TestingModule | undefined;
  afterEach(async () => {
    await module?.close();
    module = undefined;
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('registers one interval per @MaintenanceJob() provider, under the job name, and none for other providers', async () => {
    module = await schedulerWith({ JobA: new FakeJob('a', 1000), JobB: new FakeJob('b', 5000) });
    expect(module.get(SchedulerRegistry).getIntervals().sort()).toEqual(['a', 'b']);
    expect(module.get(MaintenanceScheduler).names().sort()).toEqual(['a', 'b']);
  });

  it('runs each job every `every` milliseconds', async () => {
    jest.useFakeTimers();
    const [a, b] = [new FakeJob('a', 1000), new FakeJob('b', 3000)];
    module = await schedulerWith({ JobA: a, JobB: b });
    await jest.advanceTimersByTimeAsync(6000);
    expect([a.calls, b.calls]).toEqual([6, 2]);
    expect(module.get(NotAJob).runOnce).not.toHaveBeenCalled();
  });

  it('does not start a run while the previous one is still going, and starts the next once it ended', async () => {
    const gate = deferred<JobOutcome>();
    const job = new FakeJob('slow', 1000, () => gate.promise);
    module = await schedulerWith({ Slow: job });
    const scheduler = module.get(MaintenanceScheduler);
    const first = scheduler.tick('slow');
    expect(await scheduler.tick('slow')).toEqual({ state: 'busy' });
    expect(job.calls).toBe(1);
    gate.resolve({ skipped: false });
    expect(await first).toMatchObject({ state: 'done', outcome: { skipped: false } });
    expect(await scheduler.tick('slow')).toMatchObject({ state: 'done' });
    expect(job.calls).toBe(2);
  });

  it('logs a failed run; the other jobs and its own next runs go on', async () => {
    jest.useFakeTimers();
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const bad = new FakeJob('bad', 1000, async () => {
      throw new Error('database gone');
    });
    const good = new FakeJob('good', 1000);
    module = await schedulerWith({ Bad: bad, Good: good });
    await jest.advanceTimersByTimeAsync(3000);
    expect([bad.calls, good.calls]).toEqual([3, 3]);
    expect(logged).toHaveBeenCalledWith('bad failed: database gone');
    const result = await module.get(MaintenanceScheduler).tick('bad');
    expect(result).toMatchObject({ state: 'failed', error: { message: 'database gone' } });
  });

  it('reports every run that was not skipped to the observer, with the job name and its seconds', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const observer = new RecordingObserver();
    let skipped = false;
    const lockHeldElsewhere = new FakeJob('locked', 1000, async () => ({ skipped }));
    const failing = new FakeJob('failing', 1000, async () => {
      throw new Error('boom');
    });
    module = await schedulerWith({ Locked: lockHeldElsewhere, Failing: failing }, observer);
    const scheduler = module.get(MaintenanceScheduler);
    await scheduler.tick('locked');
    skipped = true;
    await scheduler.tick('locked');
    await scheduler.tick('failing');
    expect(observer.runs.map((r) => r.job)).toEqual(['locked', 'failing']);
    for (const run of observer.runs) expect(run.seconds).toBeGreaterThanOrEqual(0);
  });

  it('goes on when the observer throws', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const observer: JobObserver = {
      observeJob: () => {
        throw new Error('registry closed');
      },
    };
    module = await schedulerWith({ JobA: new FakeJob('a', 1000) }, observer);
    expect(await module.get(MaintenanceScheduler).tick('a')).toMatchObject({ state: 'done' });
  });

  it('refuses to start with two jobs of one name, naming both providers', async () => {
    await expect(schedulerWith({ First: new FakeJob('twin', 1000), Second: new FakeJob('twin', 2000) })).rejects.toThrow(
      'two maintenance jobs named "twin": First and Second',
    );
  });

  it.each([0, -5, 1.5, Number.NaN, 2 ** 31])('refuses to start with a job whose every is %p, naming it', async (every) => {
    await expect(schedulerWith({ Odd: new FakeJob('odd', every) })).rejects.toThrow(
      `@MaintenanceJob() Odd (odd): every must be a whole number of milliseconds from 1 to ${2 ** 31 - 1}, got ${every}`,
    );
  });

  it('refuses to start with a marked provider that has no runOnce()', async () => {
    @Injectable()
    @MaintenanceJob()
    class Broken {
      readonly name = 'broken';
      readonly every = 1000;
    }
    await expect(schedulerWith({ Broken: new Broken() })).rejects.toThrow('@MaintenanceJob() Broken must have a non-empty string name and a runOnce() method');
  });

  it('names the jobs it has when asked for one it does not', async () => {
    module = await schedulerWith({ JobA: new FakeJob('a', 1000) });
    await expect(module.get(MaintenanceScheduler).tick('nope')).rejects.toThrow('no maintenance job named "nope" (jobs: a)');
  });
});
