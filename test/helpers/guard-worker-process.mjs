// A worker process for the handler guard's tests: the built service (dist/) with ROLES and
// HANDLER_GUARD from the environment, plus handlers that would end a process without the guard.
// Plain JS (no decorators), registered through TaskRegistry.register as in worker-process.mjs.
import 'reflect-metadata';
import { setTimeout } from 'node:timers';
import { Module } from '@nestjs/common';
import { bootstrap } from '../../dist/src/bootstrap.js';
import { TaskRegistry } from '../../dist/src/tasks/task-registry.js';
import { TasksModule } from '../../dist/src/tasks/tasks.module.js';

/** Never settles: only the guard ends these runs. */
const forever = () => new Promise(() => undefined);

/** func -> handler; each func is declared (never run) on the test's enqueueing side too. */
const GUARD_HANDLERS = {
  'gp.exit-sync': () => process.exit(86),
  'gp.exit-timer': () => {
    setTimeout(() => process.exit(87), 1);
    return forever();
  },
  'gp.throw-timer': () => {
    setTimeout(() => {
      throw new TypeError('thrown in a timer the handler set');
    }, 1);
    return forever();
  },
  'gp.unhandled': async () => {
    Promise.reject(new RangeError('a rejection the handler left unhandled'));
    return forever();
  },
  'gp.ok': () => ({ pid: process.pid }),
};

class GuardHandlersModule {}
Module({})(GuardHandlersModule);

const guardHandlers = {
  module: GuardHandlersModule,
  imports: [TasksModule],
  providers: [
    {
      provide: 'GUARD_HANDLERS',
      inject: [TaskRegistry],
      useFactory: (registry) => {
        for (const [name, run] of Object.entries(GUARD_HANDLERS)) registry.register({ name }, `guard-worker-process.${name}`, run);
        return Object.keys(GUARD_HANDLERS);
      },
    },
  ],
};

bootstrap(undefined, { imports: [guardHandlers] }).then(
  () => console.log(`guard-worker-process: up (pid ${process.pid})`),
  (err) => {
    console.error('guard-worker-process failed to start:', err);
    process.exit(1);
  },
);
