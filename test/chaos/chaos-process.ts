import 'reflect-metadata';
import type { DynamicModule, Type } from '@nestjs/common';
import { bootstrap } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { ChaosHandlersModule } from './chaos-handlers.js';
import { watchIsolates } from './isolate-watch.js';

// A laterz process of a chaos run (worker or scheduler, from ROLES): the real bootstrap with the
// checker funcs. Its settings come from the environment the harness gives it; SIGTERM shuts it
// down gracefully (bootstrap's handler). It tells the harness once it is up, and stops if the
// harness goes away, so no process outlives a run. In the isolation scenarios (CHAOS_ISOLATION)
// it also serves their funcs, and records when each of its isolates ends.
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
try {
  const imports: (Type | DynamicModule)[] = [ChaosHandlersModule];
  if (process.env.CHAOS_ISOLATION === '1') {
    watchIsolates(process.env.CHAOS_RECORD_DIR);
    imports.push((await import('./chaos-isolation-handlers.js')).ChaosIsolationHandlersModule);
  }
  await bootstrap(AppConfig.fromEnv(), { imports });
  process.send?.({ type: 'ready', pid: process.pid });
} catch (err) {
  console.error('chaos process failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
}
