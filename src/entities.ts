import { AuditLogEntity } from './audit/audit-log.entity.js';
import { CollectionEntity } from './collections/collection.entity.js';
import { CollectionStatsEntity } from './collections/collection-stats.entity.js';
import { FuncEntity, FuncServerEntity } from './tasks/func.entity.js';
import { ScheduleEntity } from './schedules/schedule.entity.js';
import { TaskAttemptEntity } from './tasks/task-attempt.entity.js';
import { TaskDependencyEntity } from './tasks/task-dependency.entity.js';
import { TaskEntity } from './tasks/task.entity.js';
import { TaskKeyEntity } from './tasks/task-key.entity.js';

/**
 * The engine's TypeORM entities, assembled here with the rest of the wiring: database/ takes the
 * list it is given, so it imports no feature's entities.
 */
export const ENGINE_ENTITIES = [
  TaskEntity,
  TaskKeyEntity,
  TaskDependencyEntity,
  TaskAttemptEntity,
  CollectionEntity,
  CollectionStatsEntity,
  AuditLogEntity,
  FuncEntity,
  FuncServerEntity,
  ScheduleEntity,
];
