import { cronProblem, nextSlot, planSlots } from './schedule-slots.js';

const at = (iso: string) => new Date(iso);

describe('nextSlot', () => {
  it('every: whole multiples of the interval since the epoch, strictly after', () => {
    expect(nextSlot({ everyMs: 1000 }, at('2026-01-01T00:00:00.000Z')).toISOString()).toBe('2026-01-01T00:00:01.000Z');
    expect(nextSlot({ everyMs: 60_000 }, at('2026-01-01T00:00:30.500Z')).toISOString()).toBe('2026-01-01T00:01:00.000Z');
  });

  it('cron: in its time zone, strictly after', () => {
    expect(nextSlot({ cron: '0 9 * * *', tz: 'America/New_York' }, at('2026-01-01T14:00:00Z')).toISOString()).toBe('2026-01-02T14:00:00.000Z');
    expect(nextSlot({ cron: '0 9 * * *', tz: 'Europe/Paris' }, at('2026-07-01T00:00:00Z')).toISOString()).toBe('2026-07-01T07:00:00.000Z');
    expect(nextSlot({ cron: '*/5 * * * * *', tz: null }, at('2026-01-01T00:00:05Z')).toISOString()).toBe('2026-01-01T00:00:10.000Z');
  });
});

describe('cronProblem', () => {
  it('names a bad expression or time zone', () => {
    expect(cronProblem('*/5 * * * *', 'UTC')).toBeUndefined();
    expect(cronProblem('61 * * * *', null)).toMatch(/out of range/);
    expect(cronProblem('* * * * *', 'Mars/Olympus')).toMatch(/timezone/i);
  });
});

describe('planSlots', () => {
  const every = { everyMs: 1000 };
  const now = at('2026-01-01T00:01:00.200Z');

  it('nothing due: nothing fires', () => {
    expect(planSlots(every, at('2026-01-01T00:01:01Z'), now, 'once', 30_000, 100)).toEqual({ fire: [], missed: false, next: at('2026-01-01T00:01:01Z') });
  });

  it('fires each slot within the grace, oldest first', () => {
    const plan = planSlots(every, at('2026-01-01T00:00:58Z'), now, 'skip', 30_000, 100);
    expect(plan.fire.map((d) => d.toISOString())).toEqual(['2026-01-01T00:00:58.000Z', '2026-01-01T00:00:59.000Z', '2026-01-01T00:01:00.000Z']);
    expect(plan).toMatchObject({ missed: false, next: at('2026-01-01T00:01:01Z') });
  });

  it('after downtime: `once` fires one run for the missed slots, then the on-time ones', () => {
    const plan = planSlots(every, at('2025-12-31T00:00:00Z'), now, 'once', 1_000, 100);
    expect(plan.fire.map((d) => d.toISOString())).toEqual(['2025-12-31T00:00:00.000Z', '2026-01-01T00:01:00.000Z']);
    expect(plan).toMatchObject({ missed: true, next: at('2026-01-01T00:01:01Z') });
  });

  it('after downtime: `skip` fires none of the missed slots', () => {
    const plan = planSlots({ cron: '0 * * * *', tz: 'UTC' }, at('2025-12-31T10:00:00Z'), now, 'skip', 5_000, 100);
    expect(plan).toEqual({ fire: [], missed: true, next: at('2026-01-01T01:00:00Z') });
  });

  it('at most `max` slots per tick; the rest stay due', () => {
    const plan = planSlots(every, at('2026-01-01T00:00:50Z'), now, 'once', 30_000, 4);
    expect(plan.fire).toHaveLength(4);
    expect(plan.next).toEqual(at('2026-01-01T00:00:54Z'));
  });
});
