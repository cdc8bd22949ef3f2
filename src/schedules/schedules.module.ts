import { Module } from '@nestjs/common';
import { TasksModule } from '../tasks/tasks.module.js';
import { SchedulesService } from './schedules.service.js';

/** Periodic schedules (SchedulesService): injectable by every role; the scheduler role's periodic job fires them. */
@Module({
  imports: [TasksModule],
  providers: [SchedulesService],
  exports: [SchedulesService],
})
export class SchedulesModule {}
