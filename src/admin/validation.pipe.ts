import { ArgumentMetadata, BadRequestException, Injectable, PipeTransform, ValidationError, ValidationPipe } from '@nestjs/common';
import { MAX_JSON_DEPTH, sealOpaqueJson } from './dto/validators.js';

/**
 * Field names class-transformer skips without a word, so that the whitelist never sees them: the
 * keys every object inherits (`__proto__`, `constructor`, `toString`, `hasOwnProperty`…) and any
 * method or getter of the DTO class; plus `prototype`. As a field of a request they are unknown
 * fields, refused like any other.
 */
function isReservedField(key: string, metatype: ArgumentMetadata['metatype']): boolean {
  return key === 'prototype' || key in ((metatype?.prototype as object | undefined) ?? Object.prototype);
}

/** A 400 whose body names every bad field. */
export function validationFailed(problems: { field: string; message: string }[]): BadRequestException {
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: problems.map((p) => p.message).join('; '),
    fields: [...new Set(problems.map((p) => p.field))],
  });
}

function flatten(errors: ValidationError[], parent = ''): { field: string; message: string }[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** How deep a parsed JSON value nests, counted without recursion (stops once past `limit`). */
function deeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > limit) return true;
    if (v !== null && typeof v === 'object') for (const item of Object.values(v)) stack.push([item, depth + 1]);
  }
  return false;
}

/**
 * The API's ValidationPipe: whitelist + forbidNonWhitelisted + transform, errors naming each
 * field. Before class-transformer sees a body it refuses what would slip past or crash it:
 * fields named `__proto__`, `toString`… (dropped silently otherwise) and nesting deep enough to
 * overflow its recursion (a 64 KB body can nest 30,000 levels). Nothing below the top is deleted
 * (Nest's own pipe strips `__proto__`, `constructor` and `prototype` keys at every depth): task args
 * are user data, stored as sent, so opaque JSON fields are sealed from class-transformer
 * (`@OpaqueJson()`), which skips those keys and crashes on an own `constructor` key.
 */
@Injectable()
export class AdminValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      transform: true,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => validationFailed(flatten(errors)),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' || metadata.type === 'query' || metadata.type === 'param') {
      // The whole body / query / params object (not one named field of it, e.g. @Param('id')).
      if (metadata.data === undefined) {
        if (metadata.type === 'body' && value === undefined) value = {};
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw validationFailed([{ field: metadata.type, message: `the ${metadata.type} must be a JSON object` }]);
        }
        const reserved = Object.keys(value).filter((k) => isReservedField(k, metadata.metatype));
        if (reserved.length > 0) throw validationFailed(reserved.map((k) => ({ field: k, message: `property ${k} should not exist` })));
      }
      if (deeperThan(value, MAX_JSON_DEPTH + 1)) {
        throw validationFailed([{ field: metadata.data ?? metadata.type, message: `the ${metadata.type} is nested deeper than ${MAX_JSON_DEPTH} levels` }]);
      }
      if (metadata.data === undefined) value = sealOpaqueJson(value as object, metadata.metatype);
    }
    return super.transform(value, metadata);
  }

  /** Deletes nothing: see the class comment. */
  protected override stripProtoKeys(): void {}
}

/**
 * For a route that takes no query (or no body): any parameter is refused like an unknown DTO
 * field, instead of being ignored. Use as `@Query(NoParams) _query: unknown`.
 */
@Injectable()
export class NoParams implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (value === undefined || value === null) return value;
    if (typeof value !== 'object' || Array.isArray(value)) throw validationFailed([{ field: metadata.type, message: `this route takes no ${metadata.type}` }]);
    const keys = Object.keys(value);
    if (keys.length > 0) throw validationFailed(keys.map((k) => ({ field: k, message: `property ${k} should not exist` })));
    return value;
  }
}
