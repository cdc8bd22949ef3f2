import { MigrationInterface } from 'typeorm';
import { EngineSchema1763790000000 } from './1763790000000-engine-schema.js';
import { TaskKey1763790000002 } from './1763790000002-task-key.js';
import { CollectionPaused1763790000003 } from './1763790000003-collection-paused.js';
import { Funcs1763790000004 } from './1763790000004-funcs.js';
import { ClaimByFunc1763790000005 } from './1763790000005-claim-by-func.js';
import { RetryAndDue1763790000010 } from './1763790000010-retry-and-due.js';
import { PendingNowIdx1763790000011 } from './1763790000011-pending-now-idx.js';
import { SchedulesExpiryCaps1763790000020 } from './1763790000020-schedules-expiry-caps.js';

/**
 * Every migration of the engine, in order. Listed by hand: ESM builds cannot glob-load classes.
 * 1763790000001 was the reference pipeline's tables: it now lives in examples/pipeline/migrations,
 * applied by the pipeline itself (a database migrated before keeps its row here; TypeORM ignores it).
 */
export const MIGRATIONS: (new () => MigrationInterface)[] = [
  EngineSchema1763790000000,
  TaskKey1763790000002,
  CollectionPaused1763790000003,
  Funcs1763790000004,
  ClaimByFunc1763790000005,
  RetryAndDue1763790000010,
  PendingNowIdx1763790000011,
  SchedulesExpiryCaps1763790000020,
];
