// A worker process for tests that kill, cancel or poison one: the built service (dist/) with ROLES
// (and HANDLER_GUARD) from the environment, plus the test handlers below. Plain JS (no
// decorators), so the handlers are registered through TaskRegistry.register from a factory
// provider, which Nest runs while it builds the module graph: before WorkerService starts consuming.
// Each func is declared (never run) on the test's enqueueing side too.
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { Module } from '@nestjs/common';
import { bootstrap } from '../../dist/src/bootstrap.js';
import { TaskRegistry } from '../../dist/src/tasks/task-registry.js';
import { TasksModule } from '../../dist/src/tasks/tasks.module.js';

/** Never settles: only the runner's abort (or the handler guard) ends these runs. */
const forever = () => new Promise(() => undefined);

const HANDLERS = {
  // Never returns and ignores its signal.
  'k.hang': forever,
  // Would end a process without the handler guard.
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
  // Says something, then fails: its warning and its ctx.logger line go to the process log.
  'lg.fail': (_args, _deps, ctx) => {
    ctx.logger.info('about to fail');
    throw new Error('lg.fail failed on purpose');
  },
  // Runs until the test creates the file args.release (a test that stops the process meanwhile).
  'sd.gate': async ({ release }) => {
    while (!existsSync(release)) await sleep(20);
    return 'released';
  },
};

class TestHandlersModule {}
Module({})(TestHandlersModule);

const testHandlers = {
  module: TestHandlersModule,
  imports: [TasksModule],
  providers: [
    {
      provide: 'TEST_HANDLERS',
      inject: [TaskRegistry],
      useFactory: (registry) => {
        for (const [name, run] of Object.entries(HANDLERS)) registry.register({ name }, `worker-process.${name}`, run);
        return Object.keys(HANDLERS);
      },
    },
  ],
};

bootstrap(undefined, { imports: [testHandlers] }).then(
  () => console.log(`worker-process: up (pid ${process.pid})`),
  (err) => {
    console.error('worker-process failed to start:', err);
    process.exit(1);
  },
);
