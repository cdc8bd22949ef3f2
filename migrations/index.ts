import { MigrationInterface } from 'typeorm';
import { EngineSchema1763790000000 } from './1763790000000-engine-schema.js';
import { Pipeline1763790000001 } from './1763790000001-pipeline.js';
import { TaskKey1763790000002 } from './1763790000002-task-key.js';
import { CollectionPaused1763790000003 } from './1763790000003-collection-paused.js';

/** Every migration, in order. Listed by hand: ESM builds cannot glob-load classes. */
export const MIGRATIONS: (new () => MigrationInterface)[] = [
  EngineSchema1763790000000,
  Pipeline1763790000001,
  TaskKey1763790000002,
  CollectionPaused1763790000003,
];
