import 'reflect-metadata';
import { bootstrap } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { ChaosHandlersModule } from './chaos-handlers.js';

// A laterz process of a chaos run (worker or scheduler, from ROLES): the real bootstrap with the
// checker funcs. Its settings come from the environment the harness gives it; SIGTERM shuts it
// down gracefully (bootstrap's handler). It tells the harness once it is up, and stops if the
// harness goes away, so no process outlives a run.
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
try {
  await bootstrap(AppConfig.fromEnv(), { imports: [ChaosHandlersModule] });
  process.send?.({ type: 'ready', pid: process.pid });
} catch (err) {
  console.error('chaos process failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
}
