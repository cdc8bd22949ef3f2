import { Transform, TransformFnParams } from 'class-transformer';
import { ValidateBy, ValidateIf, ValidationOptions } from 'class-validator';
import { DEFAULT_RETRY, resolveRetryPolicy, type RetryOverride } from '../../tasks/retry-policy.js';

/** Largest PostgreSQL bigint: ids above it would fail in the database instead of in validation. */
const MAX_BIGINT = 9223372036854775807n;

export const COLLECTION_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
export const FUNC_NAME = /^[A-Za-z0-9_.-]{1,200}$/;
export const DURATION = /^\d+(\.\d+)?\s*(ms|s|m|h|d)$/;
export const DEPENDENCY_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
export const BROKEN_REASON = /^[A-Za-z0-9_.:-]{1,100}$/;
const NUL = String.fromCharCode(0);

/** PostgreSQL's text cannot hold NUL characters: a value with one would fail in the database. */
export function hasNul(text: string): boolean {
  return text.includes(NUL);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A string JSON can carry into jsonb: no NUL, no lone UTF-16 surrogate (jsonb refuses both escapes). */
function jsonTextProblem(text: string): string | undefined {
  if (hasNul(text)) return 'holds a NUL character, which PostgreSQL cannot store';
  if (LONE_SURROGATE.test(text)) return 'holds a lone UTF-16 surrogate, which is not text';
  return undefined;
}

/** Deepest nesting accepted in a request body (and in task args). */
export const MAX_JSON_DEPTH = 64;
const MAX_JSON_NODES = 100_000;

/**
 * An optional field: absent (undefined) skips its validators, but null does not. class-validator's
 * IsOptional lets null through as "absent", which would turn `{ collection: null }` into a filter
 * that matches every collection.
 */
export const Optional = (): PropertyDecorator => ValidateIf((_object: object, value: unknown) => value !== undefined);

/** A task id: a decimal string of 1-19 digits, between 1 and the largest bigint. */
export function isTaskId(value: unknown): value is string {
  return typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) >= 1n && BigInt(value) <= MAX_BIGINT;
}

export function IsTaskId(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isTaskId',
      validator: {
        validate: (value) => isTaskId(value),
        defaultMessage: (args) => `${args?.property} must be a task id: a string of 1-19 digits, at most 9223372036854775807`,
      },
    },
    options,
  );
}

/** What JSON can carry faithfully, as PostgreSQL's jsonb stores it: no NUL in strings, finite numbers, bounded nesting. */
export function jsonProblem(value: unknown, path = 'value'): string | undefined {
  const stack: { v: unknown; p: string; depth: number }[] = [{ v: value, p: path, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { v, p, depth } = stack.pop()!;
    if (++nodes > MAX_JSON_NODES) return `${path} has more than ${MAX_JSON_NODES} values`;
    if (depth > MAX_JSON_DEPTH) return `${path} is nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'string') {
      const problem = jsonTextProblem(v);
      if (problem) return `${p} ${problem}`;
      continue;
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${p} is not a finite number`;
      continue;
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, p: `${p}[${i}]`, depth: depth + 1 }));
      continue;
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const [k, item] of Object.entries(v)) {
        const problem = jsonTextProblem(k);
        if (problem) return `${p} has a key that ${problem}`;
        stack.push({ v: item, p: `${p}.${k}`, depth: depth + 1 });
      }
      continue;
    }
    return `${p} is not a JSON value`;
  }
  return undefined;
}

export function IsJsonValue(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isJsonValue',
      validator: {
        validate: (value, args) => jsonProblem(value, args?.property) === undefined,
        defaultMessage: (args) => jsonProblem(args?.value, args?.property) ?? `${args?.property} must be JSON`,
      },
    },
    options,
  );
}

/** Free text that PostgreSQL can store: a string without NUL characters. */
export function IsStorableText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStorableText',
      validator: {
        validate: (value) => typeof value === 'string' && !hasNul(value),
        defaultMessage: (args) => `${args?.property} must be a string without NUL characters`,
      },
    },
    options,
  );
}

/** `{ name: taskId }`: at most 100 named parents, names 1-100 letters, digits, _ . - */
export function IsDependencyMap(options?: ValidationOptions): PropertyDecorator {
  const problem = (value: unknown, property: string): string | undefined => {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
      return `${property} must be an object of { name: taskId }`;
    }
    const entries = Object.entries(value);
    if (entries.length > 100) return `${property} names more than 100 dependencies`;
    for (const [name, id] of entries) {
      if (!DEPENDENCY_NAME.test(name)) return `${property} has a bad name: names are 1-100 letters, digits, _ . -`;
      if (!isTaskId(id)) return `${property}.${name} must be a task id: a string of 1-19 digits`;
    }
    return undefined;
  };
  return ValidateBy(
    {
      name: 'isDependencyMap',
      validator: {
        validate: (value, args) => problem(value, args?.property ?? 'dependsOn') === undefined,
        defaultMessage: (args) => problem(args?.value, args?.property ?? 'dependsOn') ?? 'bad dependsOn',
      },
    },
    options,
  );
}

/** An ISO 8601 date-time between the years 1970 and 9999 (strict: 2026-02-30 is refused). */
export function IsIsoDateTime(options?: ValidationOptions): PropertyDecorator {
  const ok = (value: unknown): boolean => {
    if (typeof value !== 'string' || value.length > 40) return false;
    if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return false;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return false;
    const [y, m, d] = value.slice(0, 10).split('-').map(Number);
    const calendar = new Date(Date.UTC(y, m - 1, d));
    return y >= 1970 && y <= 9999 && calendar.getUTCMonth() === m - 1 && calendar.getUTCDate() === d;
  };
  return ValidateBy(
    {
      name: 'isIsoDateTime',
      validator: {
        validate: (value) => ok(value),
        defaultMessage: (args) => `${args?.property} must be an ISO 8601 date-time between 1970 and 9999, e.g. 2026-01-31T12:00:00Z`,
      },
    },
    options,
  );
}

// Transforms for query strings. Each converts only a well-formed value; anything else is passed
// on unchanged, so the validators reject it with a message naming the field.

/** "42" -> 42 (digits only, at most 9); "1e3", "0x10", "NaN", "-1" stay strings. */
export const toInt = ({ value }: TransformFnParams): unknown => (typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value);

/** "true" / "false" -> booleans. */
export const toBool = ({ value }: TransformFnParams): unknown => (value === 'true' ? true : value === 'false' ? false : value);

/** `?status=a&status=b`, `?status=a,b` or `?status=a` -> ['a', 'b'] / ['a']. */
export const toList = ({ value }: TransformFnParams): unknown => {
  if (typeof value === 'string') return value.split(',');
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.flatMap((v: string) => v.split(','));
  return value;
};

const OPAQUE_JSON_FIELDS = 'laterz:opaque-json-fields';

/**
 * What the validation pipe hands class-transformer in place of an opaque JSON value: an object
 * with no keys to copy. Walked by class-transformer, task args would lose keys named
 * `__proto__` or `constructor`, and an own `constructor` key crashes it.
 */
export class SealedJson {
  readonly #value: unknown;

  constructor(value: unknown) {
    this.#value = value;
  }

  get value(): unknown {
    return this.#value;
  }
}

/**
 * A field whose value is opaque JSON (task args, a dependency map): validated and passed on
 * exactly as it was sent. The validation pipe seals it (`sealOpaqueJson`) before class-transformer
 * runs; this unseals it onto the DTO.
 */
export function OpaqueJson(): PropertyDecorator {
  const unseal = Transform(({ obj, key }: TransformFnParams) => {
    const value = Object.hasOwn(obj as object, key) ? (obj as Record<string, unknown>)[key] : undefined;
    return value instanceof SealedJson ? value.value : value;
  });
  return (target, key) => {
    const fields = (Reflect.getMetadata(OPAQUE_JSON_FIELDS, target.constructor) as string[] | undefined) ?? [];
    Reflect.defineMetadata(OPAQUE_JSON_FIELDS, [...fields, String(key)], target.constructor);
    unseal(target, key);
  };
}

/** A shallow copy of a request body whose opaque JSON fields (of its DTO class) are sealed. */
export function sealOpaqueJson(body: object, dto: unknown): object {
  const fields = typeof dto === 'function' ? ((Reflect.getMetadata(OPAQUE_JSON_FIELDS, dto) as string[] | undefined) ?? []) : [];
  const present = fields.filter((f) => Object.hasOwn(body, f));
  if (present.length === 0) return body;
  const copy: Record<string, unknown> = { ...body };
  for (const f of present) copy[f] = new SealedJson(copy[f]);
  return copy;
}

/** A retry policy override as JSON (attempts, backoff, retryOn codes, retryBroken reasons), checked as the enqueue checks it. */
export function IsRetryOverride(options?: ValidationOptions): PropertyDecorator {
  const problem = (value: unknown, property: string): string | undefined => {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
      return `${property} must be an object of { attempts, backoff, retryOn, retryBroken }`;
    }
    const json = jsonProblem(value, property);
    if (json !== undefined) return json;
    try {
      resolveRetryPolicy(value as RetryOverride, property, DEFAULT_RETRY, true);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };
  return ValidateBy(
    {
      name: 'isRetryOverride',
      validator: {
        validate: (value, args) => problem(value, args?.property ?? 'retryPolicy') === undefined,
        defaultMessage: (args) => problem(args?.value, args?.property ?? 'retryPolicy') ?? 'bad retryPolicy',
      },
    },
    options,
  );
}
