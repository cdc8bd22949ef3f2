import { randomBytes } from 'node:crypto';
import { validateEnv } from './env.schema.js';

/*
 * Names of what the test suite, the benchmarks and the chaos suite create on the user's servers
 * (databases, RabbitMQ queues), derived from the user's own settings so that a run never touches
 * the service's queues or databases and is easy to find and clean up. docs/scratch-resources.md ("What the tests,
 * benchmarks and chaos suite create".
 */

export type ScratchPurpose = 'test' | 'bench' | 'chaos' | 'testing';

/** PostgreSQL truncates identifiers longer than this; a truncated name would not be the one dropped later. */
const MAX_IDENTIFIER = 63;

/** The user's settings that these runs follow, validated as the service validates them. */
export interface ScratchSettings {
  /** AMQP_PREFIX: every queue of a run is `<prefix>.<purpose>-<id>.<queue>.<func>`. */
  amqpPrefix: string;
  /** DB_SCHEMA: the schema of the engine's tables in every database a run creates. */
  dbSchema: string;
  /** EMBEDDED_PG_PORT when it is set: the port of an embedded PostgreSQL a run starts (else a free one). */
  embeddedPgPort?: number;
}

export function scratchSettings(env: Record<string, string | undefined>): ScratchSettings {
  const valid = validateEnv({ AMQP_PREFIX: env.AMQP_PREFIX, DB_SCHEMA: env.DB_SCHEMA, EMBEDDED_PG_PORT: env.EMBEDDED_PG_PORT });
  return {
    amqpPrefix: valid.AMQP_PREFIX,
    dbSchema: valid.DB_SCHEMA,
    embeddedPgPort: env.EMBEDDED_PG_PORT ? valid.EMBEDDED_PG_PORT : undefined,
  };
}

/** A short random id (hex) that tells one run's or one database's resources apart. */
export function scratchId(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * The AMQP prefix of a run's queues: under the user's prefix, `<prefix>.<purpose>-<id>`, so a
 * RabbitMQ permission or policy on `^<prefix>\.` covers them and none is one of the service's
 * own queues (`<prefix>.<queue>.<func>`). Throws naming AMQP_PREFIX when the result is too long.
 */
export function scratchAmqpPrefix(userPrefix: string, purpose: ScratchPurpose, id: string): string {
  const prefix = `${userPrefix}.${purpose}-${id}`;
  try {
    validateEnv({ AMQP_PREFIX: prefix });
  } catch (err) {
    throw new Error(`AMQP_PREFIX=${JSON.stringify(userPrefix)} leaves no room for the ${purpose} queue prefix ${JSON.stringify(prefix)}: ${(err as Error).message}`, { cause: err });
  }
  return prefix;
}

/** A database a run creates: `laterz_<purpose>_<parts joined by _>`, lower-case letters, digits and `_`. */
export function scratchDatabaseName(purpose: ScratchPurpose, ...parts: string[]): string {
  const name = ['laterz', purpose, ...parts].join('_').toLowerCase().replace(/[^a-z0-9_]+/g, '_');
  if (name.length > MAX_IDENTIFIER) throw new Error(`database name ${name} is longer than ${MAX_IDENTIFIER} characters`);
  return name;
}

/** A LIKE pattern that matches exactly the databases scratchDatabaseName(purpose, ...parts, <anything>) makes. */
export function scratchDatabasePattern(purpose: ScratchPurpose, ...parts: string[]): string {
  return `${scratchDatabaseName(purpose, ...parts).replace(/_/g, '\\_')}\\_%`;
}
