import { scratchAmqpPrefix, scratchDatabaseName, scratchDatabasePattern, scratchId, scratchSettings } from './scratch-names.js';

describe('scratchSettings', () => {
  it("follows the user's AMQP_PREFIX, DB_SCHEMA and EMBEDDED_PG_PORT", () => {
    expect(scratchSettings({ AMQP_PREFIX: 'acme', DB_SCHEMA: 'jobs', EMBEDDED_PG_PORT: '6543' })).toEqual({ amqpPrefix: 'acme', dbSchema: 'jobs', embeddedPgPort: 6543 });
  });

  it("takes the service's defaults when they are unset, and no fixed embedded port", () => {
    expect(scratchSettings({})).toEqual({ amqpPrefix: 'laterz', dbSchema: 'laterz', embeddedPgPort: undefined });
  });

  it('refuses a bad value with the message the service gives', () => {
    expect(() => scratchSettings({ DB_SCHEMA: 'Bad-Schema' })).toThrow(/DB_SCHEMA/);
    expect(() => scratchSettings({ EMBEDDED_PG_PORT: 'x' })).toThrow(/EMBEDDED_PG_PORT/);
  });
});

describe('scratchAmqpPrefix', () => {
  it("puts a run's queues under the user's prefix, apart from the service's own", () => {
    expect(scratchAmqpPrefix('acme', 'test', '1a2b')).toBe('acme.test-1a2b');
    expect(scratchAmqpPrefix('laterz', 'chaos', '2-ff00')).toBe('laterz.chaos-2-ff00');
  });

  it('names AMQP_PREFIX when the user prefix leaves no room', () => {
    expect(() => scratchAmqpPrefix('p'.repeat(60), 'bench', '1a2b3c4d')).toThrow(/AMQP_PREFIX="p{60}" leaves no room for the bench queue prefix/);
  });
});

describe('scratchDatabaseName', () => {
  it('makes laterz_<purpose>_<parts> of lower-case letters, digits and _', () => {
    expect(scratchDatabaseName('bench', 'noop-drain', 'AB12')).toBe('laterz_bench_noop_drain_ab12');
  });

  it('refuses a name PostgreSQL would truncate', () => {
    expect(() => scratchDatabaseName('test', 'x'.repeat(60))).toThrow(/longer than 63/);
  });

  it("gives a LIKE pattern that matches a run's databases and no other run's", () => {
    const like = (pattern: string, name: string) => new RegExp(`^${pattern.replace(/\\_/g, '_').replace(/%/g, '.*')}$`).test(name);
    const run = scratchId(3);
    const pattern = scratchDatabasePattern('test', run);
    expect(pattern).toBe(`laterz\\_test\\_${run}\\_%`);
    expect(like(pattern, scratchDatabaseName('test', run, 'tpl'))).toBe(true);
    expect(like(pattern, scratchDatabaseName('test', `${run}0`, 'tpl'))).toBe(false);
  });
});
