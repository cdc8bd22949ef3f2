import 'reflect-metadata';
import { PipelineModule } from '../examples/pipeline/pipeline.module.js';
import { bootstrap } from './bootstrap.js';
import { AppConfig } from './config/app-config.js';
import { EnvValidationError } from './config/env.schema.js';

/**
 * The service as shipped: the engine, and the reference pipeline (examples/pipeline, an app on the
 * engine's public surface) unless PIPELINE_ENABLED=false. The one place src/ names an example.
 */
async function main(): Promise<void> {
  const config = AppConfig.fromEnv();
  await bootstrap(config, { imports: config.pipelineEnabled ? [PipelineModule.forRoot(config)] : [] });
}

main().catch((err: unknown) => {
  if (err instanceof EnvValidationError) {
    console.error(err.message);
  } else {
    console.error('laterz failed to start:', err instanceof Error ? err.message : err);
  }
  process.exit(1);
});
