import { CronTime } from 'cron';

/*
 * A periodic schedule's slots, as pure functions: when it fires next, and what a tick does with
 * the slots that are due (including those missed while no scheduler ran). The cron expressions and
 * time zones are the `cron` package's (the one @nestjs/schedule uses).
 */

/** What happens to slots missed by more than the grace (downtime): one run for all of them, or none. */
export type MissedPolicy = 'once' | 'skip';
export const MISSED_POLICIES: readonly MissedPolicy[] = ['once', 'skip'];

/** When a schedule fires: a cron expression (5 or 6 fields, seconds first) in a time zone, or every N ms (slots at whole multiples of N since the epoch). */
export type Cadence = { cron: string; tz: string | null; everyMs?: undefined } | { everyMs: number; cron?: undefined; tz?: undefined };

/** Checks a cron expression and time zone; returns the problem, or undefined when both are valid. */
export function cronProblem(cron: string, tz: string | null): string | undefined {
  try {
    new CronTime(cron, tz ?? undefined);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The first slot strictly after `after`. */
export function nextSlot(cadence: Cadence, after: Date): Date {
  if (cadence.everyMs !== undefined) return new Date((Math.floor(after.getTime() / cadence.everyMs) + 1) * cadence.everyMs);
  const tz = cadence.tz ?? undefined;
  return new CronTime(cadence.cron, tz).getNextDateFrom(after, tz).toJSDate();
}

/** What one tick does with a due schedule. */
export interface SlotPlan {
  /** Slots to fire now, oldest first: each becomes one task. */
  fire: Date[];
  /** Some due slots were missed by more than the grace (downtime): folded into one run (`once`) or skipped. */
  missed: boolean;
  /** The schedule's next slot after this tick: after `now`, unless `max` stopped the plan short (then still due). */
  next: Date;
}

/**
 * The due slots of a schedule whose next slot is `due`, at `now`. Slots within `graceMs` of now
 * fire, each (a scheduler late by a few seconds loses none). Older ones were missed (the
 * schedulers were down): with `once` one run fires for all of them (as the first missed slot),
 * with `skip` none does. At most `max` slots fire per tick; the rest stay due for the next one.
 */
export function planSlots(cadence: Cadence, due: Date, now: Date, policy: MissedPolicy, graceMs: number, max: number): SlotPlan {
  const onTime = now.getTime() - graceMs;
  const fire: Date[] = [];
  let slot = due;
  const missed = slot.getTime() < onTime;
  if (missed) {
    if (policy === 'once') fire.push(slot);
    // The first slot at or after the grace's start, in one step whatever the downtime.
    slot = nextSlot(cadence, new Date(onTime - 1));
  }
  while (slot.getTime() <= now.getTime() && fire.length < max) {
    fire.push(slot);
    slot = nextSlot(cadence, slot);
  }
  return { fire, missed, next: slot };
}
