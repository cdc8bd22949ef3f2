import { LaterzError } from '../tasks/tasks.errors.js';

/** A schedule's definition is wrong (cron, time zone, interval, args, policy): nothing was written. */
export class InvalidSchedule extends LaterzError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super('invalid_schedule', `schedule ${field}: ${problem}`);
  }
}

export class ScheduleNotFound extends LaterzError {
  constructor(readonly schedule: string) {
    super('schedule_not_found', `schedule ${JSON.stringify(schedule)} does not exist`);
  }
}
