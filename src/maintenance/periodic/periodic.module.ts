import { Module } from '@nestjs/common';
import { SchedulesModule } from '../../schedules/schedules.module.js';
import { TasksModule } from '../../tasks/tasks.module.js';
import { PeriodicService } from './periodic.service.js';

/** The scheduler role's periodic job (fires due schedules). */
@Module({
  imports: [TasksModule, SchedulesModule],
  providers: [PeriodicService],
  exports: [PeriodicService],
})
export class PeriodicModule {}
