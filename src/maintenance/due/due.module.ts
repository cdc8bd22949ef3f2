import { Module } from '@nestjs/common';
import { TasksModule } from '../../tasks/tasks.module.js';
import { DueGateway } from './due.gateway.js';
import { DueScanService } from './due-scan.service.js';

/** The due scan (scheduled tasks and retries queued on time): a job of the scheduler role. */
@Module({
  imports: [TasksModule],
  providers: [DueGateway, DueScanService],
  exports: [DueScanService],
})
export class DueModule {}
