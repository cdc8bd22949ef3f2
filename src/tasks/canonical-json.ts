import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so `{a:1,b:2}` and `{b:2,a:1}` are one task.
 * Throws a TypeError naming the path of the first value JSON cannot carry faithfully.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '$');
}

function encode(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, which JSON cannot carry`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => encode(v, `${path}[${i}]`)).join(',')}]`;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null && !isObjectPrototype(proto as object)) {
        // An object literal's `__proto__: {...}` sets the prototype instead of making a key (`['__proto__']: ...` makes one).
        const what = Object.hasOwn(proto as object, 'constructor')
          ? `a ${(proto as { constructor: { name?: string } }).constructor.name || 'non-plain object'}`
          : 'an object whose prototype was set (a `__proto__:` in an object literal?)';
        throw new TypeError(`${path} is ${what}, not a plain object`);
      }
      const keys = Object.keys(value as object).sort();
      const parts = keys.map((k) => `${JSON.stringify(k)}:${encode((value as Record<string, unknown>)[k], `${path}.${k}`)}`);
      return `{${parts.join(',')}}`;
    }
    default:
      throw new TypeError(`${path} is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}, which JSON cannot carry`);
  }
}

/**
 * Object.prototype of another realm: a plain object made there (deserialized from a worker
 * thread's or a child's message under a test runner's vm context, a `vm` script's literal).
 */
function isObjectPrototype(proto: object): boolean {
  return Object.getPrototypeOf(proto) === null && Object.hasOwn(proto, 'hasOwnProperty') && (proto as { constructor?: { name?: string } }).constructor?.name === 'Object';
}

/** sha256 of the canonical JSON: the identity of (collection, func, args). */
export function argsHash(canonical: string): Buffer {
  return createHash('sha256').update(canonical).digest();
}
