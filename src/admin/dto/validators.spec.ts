import 'reflect-metadata';
import { BadRequestException } from '@nestjs/common';
import { AdminValidationPipe } from '../validation.pipe.js';
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

describe('EnqueueTaskBody through the API validation pipe', () => {
  const pipe = new AdminValidationPipe();
  const parse = (plain: object) => pipe.transform(plain, { type: 'body', metatype: EnqueueTaskBody, data: undefined }) as Promise<EnqueueTaskBody>;
  const fieldsOf = (plain: object) => parse(plain).then(() => [], (err: BadRequestException) => (err.getResponse() as { fields: string[] }).fields);

  it('keeps args untouched, keys named __proto__, constructor and prototype included, and does not change the request', async () => {
    const text = '{"func": "f.ok", "args": {"__proto__": {"x": 1}, "constructor": {"name": "c"}, "y": [{"prototype": 1, "constructor": "s"}]}}';
    const plain = JSON.parse(text) as object;
    const body = await parse(plain);
    expect(JSON.stringify(body.args)).toBe(JSON.stringify((JSON.parse(text) as { args: unknown }).args));
    expect(Object.keys(body.args as object)).toEqual(['__proto__', 'constructor', 'y']);
    expect(plain).toEqual(JSON.parse(text));
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses null for an optional field instead of treating it as absent', async () => {
    expect(await fieldsOf({ func: 'f.ok', collection: null })).toEqual(['collection']);
  });

  it('accepts dependency names that are also Object keys: each is an edge name like any other', async () => {
    for (const name of ['__proto__', 'constructor', 'prototype', 'toString']) {
      const body = await parse(JSON.parse(`{"func": "f.ok", "dependsOn": {"${name}": "1"}}`) as object);
      expect(Object.entries(body.dependsOn!)).toEqual([[name, '1']]);
    }
  });

  it.each(['toString', 'valueOf', 'hasOwnProperty', '__proto__', 'constructor', 'prototype'])('refuses a field named %s like any unknown field', async (key) => {
    expect(await fieldsOf(JSON.parse(`{"func": "f.ok", "${key}": 1}`) as object)).toEqual([key]);
  });
});
