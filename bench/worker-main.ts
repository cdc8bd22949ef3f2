import 'reflect-metadata';
import { bootstrap } from '../src/bootstrap.js';
import { AppConfig } from '../src/config/app-config.js';
import { BenchHandlersModule } from './bench-handlers.js';
import { answerBenchRequests, tellBench } from './lib/ipc.js';

// A laterz worker process forked by the bench: the real bootstrap with the bench's handlers.
// Its settings (ROLES=worker, DATABASE_URL, WORKER_*, AMQP_URL) come from the environment the
// bench gives it; SIGTERM shuts it down gracefully.
try {
  answerBenchRequests();
  await bootstrap(AppConfig.fromEnv(), { imports: [BenchHandlersModule] });
  tellBench({ type: 'ready' });
} catch (err) {
  console.error('bench worker failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
}
