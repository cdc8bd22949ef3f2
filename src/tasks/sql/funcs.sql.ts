import type { Statement } from '../../database/queryable.js';

/*
 * The funcs the database knows (`func`) and the processes serving them (`func_server`): a few
 * hundred rows, read whole. A server is live while its last beat is younger than the reader's
 * live window ($n seconds: 3 heartbeats).
 */

/** Every func with its live servers (`servers`: [{ server, version, lastSeen }], by server). */
const READ_ALL = (liveParam: string) => `
    SELECT f.name, f.version, f.queue, f.bulk, f.priority, f.options,
           COALESCE((SELECT jsonb_agg(jsonb_build_object('server', s.server, 'version', s.version, 'lastSeen', s.last_seen) ORDER BY s.server)
                       FROM func_server s
                      WHERE s.func = f.name AND s.last_seen > now() - make_interval(secs => ${liveParam})), '[]'::jsonb) AS servers
      FROM func f
     ORDER BY f.name`;

/** The catalog's read: every func and its live servers. $1: the live window, seconds. */
export const READ_FUNCS: Statement = {
  name: 'laterz_read_funcs',
  text: READ_ALL('$1'),
};

/**
 * One heartbeat of server $1, in one statement: its funcs ($2 names, sorted, $3 versions, $4
 * queues, $5 bulk flags, $6 priorities, $7 options) are recorded in `func` unless a live server
 * elsewhere has a newer version (that one keeps the row: its version is the current one, and its
 * options are the func's); a func row is rewritten only when something in it changed. Its
 * `func_server` rows get `last_seen = now()`. Servers other than $1 not seen for $9 seconds are
 * forgotten (a process that died without its shutdown). Returns what READ_FUNCS returns, as the
 * statement's snapshot saw it: this beat's own writes are not in it (the caller adds them).
 * $8: the live window, seconds. Funcs in name order: two servers beating at once lock the rows of
 * `func` they share in the same order.
 */
export const BEAT: Statement = {
  name: 'laterz_func_beat',
  text: `
    WITH mine AS (
           SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::boolean[], $6::smallint[], $7::jsonb[])
                    AS m(name, version, queue, bulk, priority, options)
         ),
         newer AS (
           SELECT s.func, max(s.version) AS version FROM func_server s
            WHERE s.func = ANY($2::text[]) AND s.server <> $1 AND s.last_seen > now() - make_interval(secs => $8)
            GROUP BY s.func
         ),
         recorded AS (
           INSERT INTO func AS f (name, version, queue, bulk, priority, options, updated)
           SELECT m.name, m.version, m.queue, m.bulk, m.priority, m.options, now()
             FROM mine m LEFT JOIN newer n ON n.func = m.name
            WHERE n.version IS NULL OR m.version >= n.version
            ORDER BY m.name
           ON CONFLICT (name) DO UPDATE
              SET version = EXCLUDED.version, queue = EXCLUDED.queue, bulk = EXCLUDED.bulk, priority = EXCLUDED.priority,
                  options = EXCLUDED.options, updated = now()
            WHERE (f.version, f.queue, f.bulk, f.priority, f.options)
                  IS DISTINCT FROM (EXCLUDED.version, EXCLUDED.queue, EXCLUDED.bulk, EXCLUDED.priority, EXCLUDED.options)
         ),
         seen AS (
           INSERT INTO func_server (func, server, version, last_seen)
           SELECT m.name, $1, m.version, now() FROM mine m
           ON CONFLICT (func, server) DO UPDATE SET version = EXCLUDED.version, last_seen = EXCLUDED.last_seen
         ),
         forgotten AS (
           DELETE FROM func_server WHERE server <> $1 AND last_seen < now() - make_interval(secs => $9)
         )
    ${READ_ALL('$8')}`,
};

/** Shutdown: server $1 serves nothing any more. */
export const FORGET_SERVER: Statement = {
  name: 'laterz_func_forget_server',
  text: `DELETE FROM func_server WHERE server = $1`,
};

/** A func as READ_FUNCS returns it. */
export interface FuncRow {
  name: string;
  version: number;
  queue: string;
  bulk: boolean;
  priority: number;
  options: Record<string, unknown>;
  servers: { server: string; version: number; lastSeen: string }[];
}
