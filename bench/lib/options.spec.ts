import { benchAmqpPrefix } from './databases.js';
import { BenchOptions, parseOptions } from './options.js';

const parse = (env: NodeJS.ProcessEnv) => parseOptions(['noop-drain'], env) as BenchOptions;
const RUN_DB = 'postgres://postgres@127.0.0.1:5432/laterz_bench_noop_drain_laterz_1a2b3c4d';

describe("bench options: the user's settings", () => {
  it('follows DATABASE_URL, AMQP_URL, AMQP_PREFIX and DB_SCHEMA', () => {
    const options = parse({ DATABASE_URL: 'postgres://me@db.example:6432/postgres', AMQP_URL: 'amqp://me@mq.example', AMQP_PREFIX: 'acme', DB_SCHEMA: 'jobs' });
    expect(options.serverUrl).toBe('postgres://me@db.example:6432/postgres');
    expect(options.amqpUrl).toBe('amqp://me@mq.example');
    expect(options.settings).toMatchObject({ amqpPrefix: 'acme', dbSchema: 'jobs' });
  });

  it("puts each run's queues under AMQP_PREFIX, named after the run's database", () => {
    const { settings } = parse({ AMQP_PREFIX: 'acme' });
    expect(benchAmqpPrefix(settings, RUN_DB)).toBe('acme.bench-1a2b3c4d');
    expect(benchAmqpPrefix(settings, RUN_DB, 'raw')).toBe('acme.bench-1a2b3c4d-raw');
    expect(benchAmqpPrefix(parse({}).settings, RUN_DB)).toBe('laterz.bench-1a2b3c4d');
  });

  it('refuses an invalid setting, naming it', () => {
    expect(() => parse({ AMQP_PREFIX: 'no spaces' })).toThrow(/AMQP_PREFIX/);
  });
});

describe('bench options: execution modes (issue 17)', () => {
  it('compares every mode by default, or the ones --modes names, in its order', () => {
    expect(parse({}).isolationModes).toEqual(['inline', 'thread', 'process']);
    expect((parseOptions(['isolation', '--modes', 'thread,inline'], {}) as BenchOptions).isolationModes).toEqual(['thread', 'inline']);
  });

  it('refuses an unknown mode, naming the ones it takes', () => {
    expect(() => parseOptions(['isolation', '--modes', 'thread,fork'], {})).toThrow(/--modes takes inline, thread, process .*"fork"/);
  });

  it('takes the pool size and the soak size', () => {
    const options = parseOptions(['isolation-memory', '--isolates', '16', '--soak-tasks', '50000'], {}) as BenchOptions;
    expect(options).toMatchObject({ isolates: 16, soakTasks: 50000, scenarios: ['isolation-memory'] });
    expect(() => parseOptions(['--isolates', '0'], {})).toThrow(/--isolates/);
  });
});
