import type { FuncServer, RecordedFunc } from './func.gateway.js';
import type { RetryOverride } from './retry-policy.js';

/*
 * What the catalog makes of this process's handlers and the database's funcs, as pure functions:
 * which version of a func is current, whose options describe it, and which funcs a server of an
 * older version stops claiming during a rolling deploy.
 */

/** A func this process has a handler for (the registry's view of it). */
export interface LocalFunc {
  name: string;
  version: number;
  queue: string;
  bulk: boolean;
  priority: number;
  resyncMs?: number;
  logArgs: boolean;
  /** Default deadline to start its tasks, from their enqueue. */
  expireInMs?: number;
  /** Cap on its waiting tasks. */
  maxQueued?: number;
  /** Its retry policy as JSON (a function backoff as the default one): the dispatcher applies it to the tasks it finds dead. */
  retryJson?: RetryOverride;
}

/**
 * A func as the catalog answers for it: known here, in the database, or both. `version` is the
 * current one: the highest among its live servers; none live, the last recorded.
 */
export interface CatalogFunc extends LocalFunc {
  /** Its live servers, by server name. */
  servers: FuncServer[];
  /** Some live server serves it: the dispatcher queues its tasks. */
  served: boolean;
  /** This process has a handler for it. */
  local: boolean;
}

/** This process as a server: its name, the funcs it serves, and when its last beat was recorded. */
export interface ThisServer {
  server: string;
  serves: ReadonlySet<string>;
  /** Null before the first beat (or in a process that serves nothing). */
  seenAt: Date | null;
}

/**
 * The catalog: every func of `local` and `recorded`. A func's live servers are the recorded ones
 * plus this process when it serves the func and has beaten (a beat's own read does not see its
 * writes); its version is the highest live one, else the recorded one, else the local one; its
 * queue, priority and options are those of that version (this process's when it runs it).
 */
export function mergeCatalog(local: readonly LocalFunc[], recorded: readonly RecordedFunc[], me: ThisServer): Map<string, CatalogFunc> {
  const localByName = new Map(local.map((f) => [f.name, f]));
  const recordedByName = new Map(recorded.map((f) => [f.name, f]));
  const names = [...new Set([...localByName.keys(), ...recordedByName.keys()])].sort();
  const catalog = new Map<string, CatalogFunc>();
  for (const name of names) {
    const here = localByName.get(name);
    const there = recordedByName.get(name);
    const servers = (there?.servers ?? []).filter((s) => s.server !== me.server);
    if (here && me.seenAt && me.serves.has(name)) servers.push({ server: me.server, version: here.version, lastSeen: me.seenAt });
    servers.sort((a, b) => (a.server < b.server ? -1 : a.server > b.server ? 1 : 0));
    const version = servers.length > 0 ? Math.max(...servers.map((s) => s.version)) : (there?.version ?? here!.version);
    const described = here && (here.version >= version || !there) ? describeLocal(here) : describeRecorded(there!);
    catalog.set(name, { name, ...described, version, servers, served: servers.length > 0, local: here !== undefined });
  }
  return catalog;
}

function describeLocal(f: LocalFunc) {
  return {
    queue: f.queue,
    bulk: f.bulk,
    priority: f.priority,
    resyncMs: f.resyncMs,
    logArgs: f.logArgs,
    expireInMs: f.expireInMs,
    maxQueued: f.maxQueued,
    retryJson: f.retryJson,
  };
}

function describeRecorded(f: RecordedFunc) {
  return {
    queue: f.queue,
    bulk: f.bulk,
    priority: f.priority,
    resyncMs: f.options.resyncMs,
    logArgs: f.options.logArgs === true,
    expireInMs: f.options.expireInMs,
    maxQueued: f.options.maxQueued,
    retryJson: f.options.retry,
  };
}

/** The newest version a live server runs of `func`, when it is newer than `version`; otherwise undefined. */
export function newerLiveVersion(version: number, entry: CatalogFunc | undefined): number | undefined {
  let newest: number | undefined;
  for (const s of entry?.servers ?? []) if (s.version > version && (newest === undefined || s.version > newest)) newest = s.version;
  return newest;
}

/**
 * Which of the funcs this process serves it claims now: all but those a live server runs at a
 * newer version (`superseded`, with that version). Once a newer version runs somewhere, no older
 * code runs its tasks; when no newer server is live any more (stopped, or silent for three beats),
 * the older one claims them again.
 */
export function claimableFuncs<F extends LocalFunc>(served: readonly F[], catalog: ReadonlyMap<string, CatalogFunc>): { claimable: F[]; superseded: Map<string, number> } {
  const claimable: F[] = [];
  const superseded = new Map<string, number>();
  for (const f of served) {
    const newer = newerLiveVersion(f.version, catalog.get(f.name));
    if (newer === undefined) claimable.push(f);
    else superseded.set(f.name, newer);
  }
  return { claimable, superseded };
}
