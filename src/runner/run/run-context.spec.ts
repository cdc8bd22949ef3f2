import type { TaskHandle } from '../../tasks/enqueue-request.js';
import { TaskStatus } from '../../tasks/task-status.js';
import { DependencyBroken, ExtraDependency, MissingDependency } from '../../tasks/tasks.errors.js';
import { echoTo, LogBuffer, RunContext } from './run-context.js';

const bytes = (s: string) => Buffer.byteLength(s);
/** The kept lines, without the "[n earlier lines dropped]" header. */
const body = (log: LogBuffer) => log.text().replace(/^\[\d+ earlier lines dropped\]\n/, '');

describe('LogBuffer', () => {
  it('keeps every line under the cap, with a timestamp and level', () => {
    const log = new LogBuffer(1024);
    log.info('hello');
    log.warn('careful');
    log.error('bad');
    log.debug('detail');
    const lines = log.text().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[info\] hello$/);
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual(['[info] hello', '[warn] careful', '[error] bad', '[debug] detail']);
    expect(log.text()).not.toContain('dropped');
  });

  it('is empty before anything is written', () => {
    expect(new LogBuffer(256).text()).toBe('');
  });

  it('keeps the tail within the cap and says how many lines it dropped', () => {
    const log = new LogBuffer(1000);
    for (let i = 0; i < 200; i++) log.info(`line ${i} ${'x'.repeat(40)}`);
    const kept = body(log);
    expect(bytes(kept)).toBeLessThanOrEqual(1000);
    const lines = kept.split('\n');
    expect(lines[lines.length - 1]).toContain('line 199 ');
    // The kept lines are the last ones, in order, with none missing in between.
    const numbers = lines.map((l) => Number(/line (\d+) /.exec(l)![1]));
    expect(numbers).toEqual(numbers.map((_, i) => 200 - numbers.length + i));
    expect(log.text()).toMatch(new RegExp(`^\\[${200 - numbers.length} earlier lines dropped\\]\\n`));
    // It keeps as much as fits: one more line would not have.
    expect(bytes(kept) + bytes(`${new Date().toISOString()} [info] line 0 ${'x'.repeat(40)}`) + 1).toBeGreaterThan(1000);
  });

  it('keeps the end of a single line longer than the cap', () => {
    const log = new LogBuffer(256);
    log.info(`${'a'.repeat(1000)}THE END`);
    const text = log.text();
    expect(text.endsWith('THE END')).toBe(true);
    expect(bytes(text)).toBeLessThanOrEqual(256);
  });

  it('a long line pushes out all the earlier ones', () => {
    const log = new LogBuffer(256);
    log.info('first');
    log.info('second');
    log.info('z'.repeat(500));
    expect(log.text()).toMatch(/^\[2 earlier lines dropped\]\nz+$/);
  });

  it('caps bytes, not characters, for multi-byte text', () => {
    const log = new LogBuffer(300);
    for (let i = 0; i < 20; i++) log.info(`${i} ${'é'.repeat(50)}`);
    expect(bytes(body(log))).toBeLessThanOrEqual(300);
    const single = new LogBuffer(256);
    single.info('🎉'.repeat(200));
    expect(bytes(single.text())).toBeLessThanOrEqual(256);
    expect(single.text()).not.toContain('\uFFFD');
  });

  it('echoes every line to the process log', () => {
    const echoed: string[] = [];
    const log = new LogBuffer(256, (level, message) => echoed.push(`${level}:${message}`));
    log.info('a');
    log.error('b');
    for (let i = 0; i < 50; i++) log.debug('c'.repeat(20));
    expect(echoed).toHaveLength(52);
    expect(echoed.slice(0, 2)).toEqual(['info:a', 'error:b']);
    expect(log.writes).toBe(52);
  });

  it('echoTo: each line at its own level (info as Nest log), with the fields beside the message', () => {
    const calls: [string, unknown][] = [];
    const logger = {
      debug: (m: unknown) => calls.push(['debug', m]),
      log: (m: unknown) => calls.push(['log', m]),
      warn: (m: unknown) => calls.push(['warn', m]),
      error: (m: unknown) => calls.push(['error', m]),
    };
    const log = new LogBuffer(1024, echoTo(logger, { taskId: '9', func: 'f' }));
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(calls).toEqual([
      ['debug', { msg: 'd', taskId: '9', func: 'f' }],
      ['log', { msg: 'i', taskId: '9', func: 'f' }],
      ['warn', { msg: 'w', taskId: '9', func: 'f' }],
      ['error', { msg: 'e', taskId: '9', func: 'f' }],
    ]);
  });
});

describe('RunContext', () => {
  const parent: TaskHandle = { id: '77', collection: 'c1', func: 'p', status: TaskStatus.Queued, created: true };
  const make = (deps: Record<string, unknown>, enqueued: unknown[] = []) =>
    new RunContext('5', 'c1', 'f', 1, new AbortController(), new LogBuffer(1024), deps, async (func, args, options) => {
      enqueued.push({ func, args, options });
      return { ...parent, func };
    });

  it('returns a dependency it has without enqueueing anything', async () => {
    let calls = 0;
    await expect(make({ text: 'hello' }).requireDependency('text', () => (calls++, parent))).resolves.toBe('hello');
    expect(calls).toBe(0);
  });

  it('returns a dependency whose result is null', async () => {
    await expect(make({ nothing: null }).requireDependency('nothing', () => parent)).resolves.toBeNull();
  });

  it('enqueues a missing dependency and stops the run to wait for it', async () => {
    const ctx = make({});
    const err = await ctx.requireDependency('text', () => parent).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDependency);
    expect(err).toMatchObject({ dependency: 'text', prevId: '77' });
  });

  it('throws a broken dependency unless asked to return it', async () => {
    const broken = new DependencyBroken('text', 'corrupt_input', 'bad');
    await expect(make({ text: broken }).requireDependency('text', () => parent)).rejects.toBe(broken);
    await expect(make({ text: broken }).requireDependency('text', () => parent, { returnError: true })).resolves.toBe(broken);
  });

  it('does not count inherited properties as dependencies', async () => {
    await expect(make({}).requireDependency('toString', () => parent)).rejects.toBeInstanceOf(MissingDependency);
  });

  it('removeDependency stops the run only when the dependency is there', () => {
    expect(() => make({}).removeDependency('old')).not.toThrow();
    expect(() => make({ old: 1 }).removeDependency('old')).toThrow(ExtraDependency);
  });

  it('enqueues in its own collection unless told otherwise', async () => {
    const enqueued: unknown[] = [];
    const ctx = make({}, enqueued);
    await ctx.enqueue('g', { a: 1 });
    await ctx.enqueue('g', { a: 2 }, { collection: 'other', priority: 3 });
    expect(enqueued).toEqual([
      { func: 'g', args: { a: 1 }, options: { collection: 'c1' } },
      { func: 'g', args: { a: 2 }, options: { collection: 'other', priority: 3 } },
    ]);
  });
});
