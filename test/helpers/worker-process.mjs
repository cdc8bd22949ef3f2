// A worker process for tests that kill one: the built service (dist/) with ROLES from the
// environment, plus the handler `k.hang`, which never returns. Plain JS (no decorators), so the
// handler is registered through TaskRegistry.register from a factory provider, which Nest runs
// while it builds the module graph: before WorkerService starts consuming.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { bootstrap } from '../../dist/src/bootstrap.js';
import { TaskRegistry } from '../../dist/src/tasks/task-registry.js';
import { TasksModule } from '../../dist/src/tasks/tasks.module.js';

class HangHandlersModule {}
Module({})(HangHandlersModule);

const hangHandlers = {
  module: HangHandlersModule,
  imports: [TasksModule],
  providers: [
    {
      provide: 'HANG_HANDLERS',
      inject: [TaskRegistry],
      useFactory: (registry) => {
        registry.register({ name: 'k.hang' }, 'worker-process.hang', () => new Promise(() => undefined));
        return 'k.hang';
      },
    },
  ],
};

bootstrap(undefined, { imports: [hangHandlers] }).then(
  () => console.log('worker-process: up'),
  (err) => {
    console.error('worker-process failed to start:', err);
    process.exit(1);
  },
);
