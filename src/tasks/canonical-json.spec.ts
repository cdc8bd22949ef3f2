import { runInNewContext } from 'node:vm';
import { argsHash, canonicalJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys, so two key orders are one text', () => {
    expect(canonicalJson({ b: 2, a: 1 })).toBe('{"a":1,"b":2}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('sorts keys at every level, inside arrays too, and keeps array order', () => {
    const one = { z: [{ y: 1, x: 2 }, 3, 'a'], m: { d: { b: null, a: true }, c: [] } };
    const two = { m: { c: [], d: { a: true, b: null } }, z: [{ x: 2, y: 1 }, 3, 'a'] };
    expect(canonicalJson(one)).toBe('{"m":{"c":[],"d":{"a":true,"b":null}},"z":[{"x":2,"y":1},3,"a"]}');
    expect(canonicalJson(two)).toBe(canonicalJson(one));
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('round-trips through JSON.parse to the same value', () => {
    const value = { s: 'line\n"quoted" ü 🎉', n: -1.5e-7, big: 2 ** 53 - 1, neg0: 0, t: false, list: [null, {}, []] };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
  });

  it("takes another realm's plain objects (a worker thread's message under a vm context), not its class instances", () => {
    const foreign = runInNewContext('({ b: [{ d: 1 }], a: "x" })') as object;
    expect(Object.getPrototypeOf(foreign)).not.toBe(Object.prototype);
    expect(canonicalJson(foreign)).toBe('{"a":"x","b":[{"d":1}]}');
    expect(() => canonicalJson(runInNewContext('new (class Point { constructor() { this.x = 1; } })()'))).toThrow('$ is a Point, not a plain object');
  });

  it('encodes scalars and null-prototype objects like JSON does', () => {
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson('x')).toBe('"x"');
    expect(canonicalJson(3)).toBe('3');
    expect(canonicalJson(true)).toBe('true');
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 });
    expect(canonicalJson(bare)).toBe('{"a":2,"b":1}');
  });

  it('keeps own keys named __proto__, constructor and prototype, in the text and so in the hash', () => {
    const text = '{"a":{"__proto__":{"x":1},"keep":true},"constructor":{"prototype":{"p":1}},"prototype":0,"toString":"t"}';
    const parsed: unknown = JSON.parse(text);
    expect(canonicalJson(parsed)).toBe('{"a":{"__proto__":{"x":1},"keep":true},"constructor":{"prototype":{"p":1}},"prototype":0,"toString":"t"}');
    expect(JSON.parse(canonicalJson(parsed))).toEqual(parsed);
    expect(argsHash(canonicalJson(parsed)).equals(argsHash(canonicalJson(JSON.parse('{"a":{"keep":true},"constructor":{"prototype":{"p":1}},"prototype":0,"toString":"t"}'))))).toBe(false);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it.each([
    ['an object literal whose __proto__ set its prototype', { a: { __proto__: { x: 1 } } }, '$.a is an object whose prototype was set'],
    ['NaN', { n: NaN }, '$.n is NaN'],
    ['Infinity', { deep: { x: [1, -Infinity] } }, '$.deep.x[1] is -Infinity'],
    ['undefined in an object', { a: { b: undefined } }, '$.a.b is undefined'],
    ['undefined in an array', [1, undefined], '$[1] is undefined'],
    ['a Date', { when: new Date(0) }, '$.when is a Date, not a plain object'],
    ['a BigInt', { list: [{ id: 10n }] }, '$.list[0].id is a bigint'],
    ['a Map', { m: new Map() }, '$.m is a Map'],
    ['a class instance', { u: new URL('http://x') }, '$.u is a URL'],
    ['a function', { f: () => 1 }, '$.f is a function'],
    ['a symbol', { s: Symbol('s') }, '$.s is a symbol'],
    ['undefined at the top', undefined, '$ is undefined'],
  ])('rejects %s, naming its path', (_what, value, message) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
    expect(() => canonicalJson(value)).toThrow(message);
  });
});

describe('argsHash', () => {
  it('is a sha256 that is equal for equal canonical texts only', () => {
    const a = argsHash(canonicalJson({ a: 1, b: 2 }));
    const b = argsHash(canonicalJson({ b: 2, a: 1 }));
    const c = argsHash(canonicalJson({ a: 1, b: 3 }));
    expect(a).toHaveLength(32);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });
});
