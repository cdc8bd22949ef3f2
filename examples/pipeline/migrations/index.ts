import { MigrationInterface } from 'typeorm';
import { Pipeline1763790000001 } from './1763790000001-pipeline.js';

/** The pipeline's migrations, in order, in a chain of their own (table `pipeline_migrations`). */
export const PIPELINE_MIGRATIONS: (new () => MigrationInterface)[] = [Pipeline1763790000001];
