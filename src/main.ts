import 'reflect-metadata';
import { bootstrap } from './bootstrap.js';
import { EnvValidationError } from './config/env.schema.js';

bootstrap().catch((err: unknown) => {
  if (err instanceof EnvValidationError) {
    console.error(err.message);
  } else {
    console.error('laterz failed to start:', err instanceof Error ? err.message : err);
  }
  process.exit(1);
});
