import { DependencyBroken, ExtraDependency, MissingDependency, TaskBroken, TaskError } from '../../tasks/tasks.errors.js';
import { RetryLater } from '../../tasks/retry-policy.js';
import { decodeDeps, decodeError, encodeDeps, encodeError } from './isolate-protocol.js';

/** Through structured clone, as a worker thread's or a child's message carries it. */
const across = <T>(value: T): T => structuredClone(value);

describe('isolate protocol', () => {
  it('errors keep their class, fields and stack across', () => {
    const broken = decodeError(across(encodeError(new TaskBroken('bad_input', 'no'))));
    expect(broken).toBeInstanceOf(TaskBroken);
    expect(broken).toMatchObject({ reason: 'bad_input', message: 'no' });

    const dep = decodeError(across(encodeError(new DependencyBroken('parent', 'timeout', 'timed out'))));
    expect(dep).toBeInstanceOf(DependencyBroken);
    expect(dep).toMatchObject({ dependency: 'parent', reason: 'timeout', parentError: 'timed out' });

    const taskError = decodeError(across(encodeError(new TaskError('later', { retryIn: 5, fn: () => 1 }))));
    expect(taskError).toBeInstanceOf(TaskError);
    expect((taskError as TaskError).details).toBe('{"retryIn":5}');

    const later = decodeError(across(encodeError(new RetryLater('30s', 'rate limited'))));
    expect(later).toBeInstanceOf(RetryLater);
    expect(later).toMatchObject({ delayMs: 30_000, message: 'rate limited' });

    expect(decodeError(across(encodeError(new MissingDependency('p', '42'))))).toMatchObject({ dependency: 'p', prevId: '42' });
    expect(decodeError(across(encodeError(new ExtraDependency('p'))))).toBeInstanceOf(ExtraDependency);

    const net = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const other = decodeError(across(encodeError(net)));
    expect(other).toMatchObject({ name: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' });
    expect(other.stack).toBe(net.stack);

    const range = decodeError(across(encodeError(new RangeError('out'))));
    expect(`${range.name}: ${range.message}`).toBe('RangeError: out');
    expect(decodeError(across(encodeError('a string')))).toMatchObject({ message: 'thrown value: "a string"' });
  });

  it('deps: results as they are, a broken parent as a DependencyBroken again', () => {
    const deps = decodeDeps(across(encodeDeps({ ok: { n: 1 }, none: null, bad: new DependencyBroken('bad', 'bad_input', 'no') })));
    expect(deps.ok).toEqual({ n: 1 });
    expect(deps.none).toBeNull();
    expect(deps.bad).toBeInstanceOf(DependencyBroken);
    expect(deps.bad).toMatchObject({ dependency: 'bad', reason: 'bad_input', parentError: 'no' });
  });
});
