import type { Statement } from '../../database/queryable.js';

/**
 * The logs of running tasks so far, in one statement for every task of the flush: $1 ids, $2 their
 * attempts, $3 their logs. A row changes only while it is still `started` by the same attempt, so
 * a flush never writes over a finished task or a later attempt's log. A row locked by a finish (or
 * anything else) is skipped rather than waited for: its log is written at the finish anyway, and
 * a flush that waited would lock rows in an order of its own beside the finish's (a deadlock).
 * Returns the ids written.
 */
export const FLUSH_LOGS_IF_STARTED: Statement = {
  name: 'laterz_flush_logs_if_started',
  text: `
    WITH v AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[]) AS v(id, attempt, log)),
         -- Looked up by primary key, status compared as text (a filter, never an index condition),
         -- as in FINISH_IF_STARTED.
         mine AS (
           SELECT v.id, v.log FROM v,
                  LATERAL (SELECT 1 FROM task t WHERE t.id = v.id AND t.attempt = v.attempt AND t.status::text = 'started'
                             FOR UPDATE OF t SKIP LOCKED) l
         )
    UPDATE task t SET log = m.log
      FROM mine m
     WHERE t.id = m.id
    RETURNING t.id::text AS id`,
};
