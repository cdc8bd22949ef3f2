import { Injectable } from '@nestjs/common';
import { Db } from '../database/db.js';
import type { RetryOverride } from './retry-policy.js';
import { BEAT, FORGET_SERVER, type FuncRow, READ_FUNCS } from './sql/funcs.sql.js';

/** What a server records of one func it serves. */
export interface ServedFunc {
  name: string;
  version: number;
  queue: string;
  bulk: boolean;
  priority: number;
  options: FuncOptions;
}

/** A func as the database has it (`version`: the one last recorded, by the server whose version was the current one), with its live servers. */
export interface RecordedFunc extends ServedFunc {
  servers: FuncServer[];
}

/** The options of a handler beyond name, version, queue, bulk and priority. */
export interface FuncOptions {
  timeoutMs?: number;
  resyncMs?: number;
  logArgs?: boolean;
  expireInMs?: number;
  maxQueued?: number;
  /** The retry policy as JSON (the dispatcher applies it to dead tasks). */
  retry?: RetryOverride;
}

/** A live process serving a func: `host:pid:bootid`, its version of the func, its last heartbeat. */
export interface FuncServer {
  server: string;
  version: number;
  lastSeen: Date;
}

/** The statements of `func` and `func_server`: one per heartbeat, one per read, one at shutdown. */
@Injectable()
export class FuncGateway {
  constructor(private readonly db: Db) {}

  /**
   * Records that `server` serves `funcs` now (and forgets servers not seen for `forgetSeconds`);
   * returns every func with the servers live within `liveSeconds`, as they were before this beat.
   */
  async beat(server: string, funcs: readonly ServedFunc[], liveSeconds: number, forgetSeconds: number): Promise<RecordedFunc[]> {
    const sorted = [...funcs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const rows = await this.db.rows<FuncRow>(BEAT, [
      server,
      sorted.map((f) => f.name),
      sorted.map((f) => f.version),
      sorted.map((f) => f.queue),
      sorted.map((f) => f.bulk),
      sorted.map((f) => f.priority),
      sorted.map((f) => JSON.stringify(f.options)),
      liveSeconds,
      forgetSeconds,
    ]);
    return rows.map(recorded);
  }

  /** Every func and its servers live within `liveSeconds`; on `db` when given (the api role's pool). */
  async readAll(liveSeconds: number, db: Db = this.db): Promise<RecordedFunc[]> {
    return (await db.rows<FuncRow>(READ_FUNCS, [liveSeconds])).map(recorded);
  }

  /** Deletes every `func_server` row of `server` (its shutdown). */
  async forgetServer(server: string): Promise<void> {
    await this.db.rows(FORGET_SERVER, [server]);
  }
}

function recorded(row: FuncRow): RecordedFunc {
  const options = row.options ?? {};
  return {
    name: row.name,
    version: row.version,
    queue: row.queue,
    bulk: row.bulk,
    priority: row.priority,
    options: {
      timeoutMs: typeof options.timeoutMs === 'number' ? options.timeoutMs : undefined,
      resyncMs: typeof options.resyncMs === 'number' ? options.resyncMs : undefined,
      logArgs: options.logArgs === true,
      expireInMs: typeof options.expireInMs === 'number' ? options.expireInMs : undefined,
      maxQueued: typeof options.maxQueued === 'number' ? options.maxQueued : undefined,
      retry: typeof options.retry === 'object' && options.retry !== null ? (options.retry as RetryOverride) : undefined,
    },
    servers: row.servers.map((s) => ({ server: s.server, version: s.version, lastSeen: new Date(s.lastSeen) })),
  };
}
