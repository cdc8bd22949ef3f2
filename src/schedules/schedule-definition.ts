import { type HandlerSchedule, parseDuration } from '../tasks/task-handler.decorator.js';
import { type Cadence, cronProblem, MISSED_POLICIES, type MissedPolicy } from './schedule-slots.js';

export type { HandlerSchedule };
import { InvalidSchedule } from './schedules.errors.js';

/** A schedule added at run time (SchedulesService.add, `POST /api/schedules`). */
export interface ScheduleDefinition extends HandlerSchedule {
  /** 1-200 letters, digits, _ . - : */
  name: string;
  func: string;
}

/** A definition checked and normalised. */
export interface ValidSchedule {
  name: string;
  func: string;
  args: Record<string, unknown>;
  collection: string;
  cadence: Cadence;
  missed: MissedPolicy;
}

const NAME = /^[A-Za-z0-9_.:-]{1,200}$/;
const COLLECTION = /^[A-Za-z0-9_.-]{1,100}$/;
/** The key each run's args get: the slot's time, which makes every slot a task of its own. */
export const SLOT_KEY = 'slot';

/** Checks a definition; throws InvalidSchedule naming the first bad field. */
export function validSchedule(def: ScheduleDefinition): ValidSchedule {
  if (typeof def.name !== 'string' || !NAME.test(def.name)) throw new InvalidSchedule('name', `must be 1-200 letters, digits, _ . : - (got ${JSON.stringify(def.name)})`);
  if (typeof def.func !== 'string' || def.func === '') throw new InvalidSchedule('func', 'must be a func name');
  const args = def.args ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new InvalidSchedule('args', 'must be a JSON object (each run gets it with the slot added)');
  if (Object.prototype.hasOwnProperty.call(args, SLOT_KEY)) throw new InvalidSchedule('args', `must not have a "${SLOT_KEY}" key: each run's slot goes there`);
  const collection = def.collection ?? 'default';
  if (typeof collection !== 'string' || !COLLECTION.test(collection)) throw new InvalidSchedule('collection', `must be 1-100 letters, digits, _ . - (got ${JSON.stringify(collection)})`);
  const missed = def.missed ?? 'once';
  if (!MISSED_POLICIES.includes(missed)) throw new InvalidSchedule('missed', `must be one of ${MISSED_POLICIES.join(', ')} (got ${JSON.stringify(missed)})`);
  return { name: def.name, func: def.func, args, collection, cadence: cadenceOf(def), missed };
}

function cadenceOf(def: HandlerSchedule): Cadence {
  if ((def.cron === undefined) === (def.every === undefined)) throw new InvalidSchedule('cron', 'give either cron (with an optional tz) or every, not both or neither');
  if (def.every !== undefined) {
    if (def.tz !== undefined) throw new InvalidSchedule('tz', 'applies to cron only, not to every');
    let everyMs: number;
    try {
      everyMs = parseDuration(def.every, 'every');
    } catch (err) {
      throw new InvalidSchedule('every', (err as Error).message);
    }
    if (!Number.isInteger(everyMs) || everyMs < 1000) throw new InvalidSchedule('every', `must be whole milliseconds, at least 1000 (got ${everyMs})`);
    return { everyMs };
  }
  if (typeof def.cron !== 'string') throw new InvalidSchedule('cron', 'must be a cron expression');
  const tz = def.tz ?? null;
  const problem = cronProblem(def.cron, tz);
  if (problem) throw new InvalidSchedule(tz !== null && /zone/i.test(problem) ? 'tz' : 'cron', `${JSON.stringify(tz !== null && /zone/i.test(problem) ? tz : def.cron)}: ${problem}`);
  return { cron: def.cron, tz };
}
