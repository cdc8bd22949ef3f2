import { ChaosOptions, parseOptions } from './options.js';

const AMQP = { AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672' };
const parse = (argv: string[], env: NodeJS.ProcessEnv = AMQP) => parseOptions(argv, env) as ChaosOptions;

describe('chaos options: the RabbitMQ restart scenario', () => {
  it('refuses --transport amqp with scenario 2 unless --allow-broker-restart is given, naming the flag', () => {
    expect(() => parse(['--transport', 'amqp'])).toThrow(/--allow-broker-restart/);
    expect(() => parse(['--transport', 'amqp', '--scenario', '2'])).toThrow(/stops and kills the RabbitMQ at 127\.0\.0\.1:5672/);
  });

  it('runs scenario 2 with the flag', () => {
    expect(parse(['--transport', 'amqp', '--allow-broker-restart']).scenarios).toContain(2);
  });

  it('runs the other scenarios on RabbitMQ without the flag', () => {
    expect(parse(['--transport', 'amqp', '--scenario', '0,1,3']).scenarios).toEqual([0, 1, 3]);
  });

  it('needs no flag on the PostgreSQL transport, where scenario 2 does not run, and accepts it there', () => {
    expect(parse(['--quick'], {}).transport).toBe('postgres');
    expect(parse(['--quick', '--allow-broker-restart'], {}).transport).toBe('postgres');
  });
});

describe("chaos options: the user's settings", () => {
  it('takes AMQP_PREFIX, DB_SCHEMA and EMBEDDED_PG_PORT from the environment', () => {
    const options = parse(['--transport', 'amqp', '--scenario', '1'], { ...AMQP, AMQP_PREFIX: 'acme', DB_SCHEMA: 'jobs', EMBEDDED_PG_PORT: '6543' });
    expect(options.settings).toEqual({ amqpPrefix: 'acme', dbSchema: 'jobs', embeddedPgPort: 6543 });
  });

  it('refuses a bad one, naming it', () => {
    expect(() => parse([], { DB_SCHEMA: 'No Schema' })).toThrow(/DB_SCHEMA/);
  });
});

describe('chaos options: the isolation scenarios (issue 17)', () => {
  it('adds the fault-free reference run of a scenario that compares with one (6 with 0, 9 with 8)', () => {
    expect(parse(['--scenario', '9'], {}).scenarios).toEqual([8, 9]);
    expect(parse(['--scenario', '6,9'], {}).scenarios).toEqual([0, 6, 8, 9]);
  });

  it('runs 8 and 9 in the full suite but not in the --quick set', () => {
    expect(parse([], {}).scenarios).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(parse(['--quick'], {}).scenarios).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('names the range when a scenario number is out of it', () => {
    expect(() => parse(['--scenario', '10'], {})).toThrow(/--scenario must be 0-9, got "10"/);
  });
});
