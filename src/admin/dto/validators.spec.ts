import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { EnqueueTaskBody } from './enqueue-task.dto.js';
import { isTaskId, jsonProblem } from './validators.js';

describe('isTaskId', () => {
  it.each(['1', '42', '9223372036854775807', '0001'])('accepts %s', (id) => expect(isTaskId(id)).toBe(true));
  it.each(['0', '-1', '1.5', '1e3', ' 1', '9223372036854775808', '99999999999999999999', '', 'abc'])('refuses %j', (id) => expect(isTaskId(id)).toBe(false));
  it.each([1, null, undefined, ['1'], { id: '1' }])('refuses the non-string %j', (id) => expect(isTaskId(id)).toBe(false));
});

describe('jsonProblem', () => {
  it('accepts what jsonb stores faithfully', () => {
    for (const v of [null, true, 0, -1.5, 'text', '💥', [1, [2, [3]]], { a: { b: ['c'] } }, {}]) expect(jsonProblem(v)).toBeUndefined();
  });

  it('names the path of the first value jsonb cannot take', () => {
    expect(jsonProblem({ a: ['x', 'nul\u0000'] }, 'args')).toBe('args.a[1] holds a NUL character, which PostgreSQL cannot store');
    expect(jsonProblem({ 'k\u0000': 1 }, 'args')).toMatch(/key that holds a NUL/);
    expect(jsonProblem({ s: 'lone \ud800 surrogate' }, 'args')).toMatch(/args\.s holds a lone UTF-16 surrogate/);
    expect(jsonProblem({ s: '\udc00' }, 'args')).toMatch(/lone UTF-16 surrogate/);
    expect(jsonProblem({ s: '\ud83d\udca5 is a pair' }, 'args')).toBeUndefined();
    expect(jsonProblem({ n: Infinity }, 'args')).toBe('args.n is not a finite number');
    expect(jsonProblem({ d: new Date() }, 'args')).toBe('args.d is not a JSON value');
    expect(jsonProblem(() => 1, 'args')).toBe('args is not a JSON value');
  });

  it('bounds depth without recursing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonProblem(deep, 'args')).toMatch(/nested deeper than 64 levels/);
  });
});

describe('EnqueueTaskBody', () => {
  const check = (plain: object) => validateSync(plainToInstance(EnqueueTaskBody, plain), { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });

  it('keeps args untouched, __proto__ keys included', () => {
    const plain = JSON.parse('{"func": "f.ok", "args": {"__proto__": {"x": 1}, "y": [1]}}') as object;
    const body = plainToInstance(EnqueueTaskBody, plain);
    expect(Object.keys(body.args as object)).toEqual(['__proto__', 'y']);
    expect(check(plain)).toEqual([]);
  });

  it('refuses null for an optional field instead of treating it as absent, and a dependency named __proto__', () => {
    expect(check({ func: 'f.ok', collection: null }).map((e) => e.property)).toEqual(['collection']);
    expect(check(JSON.parse('{"func": "f.ok", "dependsOn": {"__proto__": "1"}}') as object).map((e) => e.property)).toEqual(['dependsOn']);
  });
});
