import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { SchedulesService } from '../schedules/schedules.service.js';
import type { Executor } from '../tasks/executor.js';
import { ADMIN_EXECUTOR } from './admin-pool.js';
import type { CreateScheduleBody } from './dto/schedules.dto.js';

/** Schedules through the API, on the admin pool; each change with its audit row, in one transaction. */
@Injectable()
export class SchedulesAdmin {
  constructor(
    private readonly schedules: SchedulesService,
    private readonly audit: AuditService,
    @Inject(ADMIN_EXECUTOR) private readonly on: Executor,
  ) {}

  list() {
    return this.schedules.list(this.on.db).then((items) => ({ items }));
  }

  get(name: string) {
    return this.schedules.get(name, this.on.db);
  }

  add(body: CreateScheduleBody, who: string) {
    return this.on.db.transaction((tx) =>
      this.schedules.add(body, {
        on: tx,
        within: (q, s) => this.audit.record({ who, action: 'schedule.add', target: { schedule: s.name, func: s.func, cron: s.cron, every: s.everyMs }, count: 1 }, q),
      }),
    );
  }

  remove(name: string, who: string) {
    return this.on.db.transaction((tx) =>
      this.schedules.remove(name, { on: tx, within: (q) => this.audit.record({ who, action: 'schedule.remove', target: { schedule: name }, count: 1 }, q) }),
    );
  }
}
