import type { Statement } from '../../database/queryable.js';
import { statusList } from '../../tasks/sql/status-list.js';
import { FINISHED_STATUSES } from '../../tasks/task-status.js';

/**
 * Reads behind the admin API (inspect, graph, progress, queues). None is on a hot path; each is
 * bounded by an index or a LIMIT, and the API's pool puts a statement timeout on all of them.
 */

const FINISHED = statusList(FINISHED_STATUSES);

/** Columns the API shows of a task, but `error` (whole or cut) and args, result and log, which each query adds. */
export const TASK_COLUMNS = `
  id::text AS id, collection, func, status::text AS status, version, broken_reason, fail_count, attempt,
  size_bytes::text AS size_bytes, priority, run_after, worker, date_created, date_modified, date_started, date_finished`;

export interface TaskRow {
  id: string;
  collection: string;
  func: string;
  status: string;
  version: number;
  error: string;
  broken_reason: string;
  fail_count: number;
  attempt: number;
  size_bytes: string;
  priority: number;
  run_after: Date | null;
  worker: string | null;
  date_created: Date;
  date_modified: Date;
  date_started: Date | null;
  date_finished: Date | null;
}

export interface TaskDetailRow extends TaskRow {
  args: unknown;
  result: unknown;
  log: string;
  /** A session holds the task's advisory lock: a worker runs its attempt `attempt` (its handler has not returned). */
  lock_held: boolean;
}

/** The task, and whether some session holds its advisory lock (pg_locks is small: read whole). */
export const TASK_DETAIL: Statement = {
  name: 'laterz_admin_task_detail',
  text: `
    SELECT ${TASK_COLUMNS}, error, args, result, log,
           EXISTS (SELECT 1 FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND ((l.classid::bigint << 32) | l.objid::bigint) = task.id) AS lock_held
      FROM task WHERE id = $1`,
};

/** Failed and killed attempts, newest first (the table keeps the last TASK_ATTEMPTS_KEPT per task). */
export const TASK_ATTEMPTS: Statement = {
  name: 'laterz_admin_task_attempts',
  text: `
    SELECT attempt, status::text AS status, broken_reason, error, worker, date_started, date_finished
      FROM task_attempt WHERE task_id = $1 ORDER BY attempt DESC, id DESC LIMIT 100`,
};

export interface AttemptRow {
  attempt: number;
  status: string;
  broken_reason: string;
  error: string;
  worker: string | null;
  date_started: Date | null;
  date_finished: Date;
}

/** Tasks this one depends on (its inputs), with their statuses. On task_dependency_next_name_uq. */
export const TASK_DEPENDENCIES: Statement = {
  name: 'laterz_admin_task_dependencies',
  text: `
    SELECT d.name, t.id::text AS id, t.func, t.status::text AS status, t.version, t.broken_reason
      FROM task_dependency d JOIN task t ON t.id = d.prev_id
     WHERE d.next_id = $1 ORDER BY d.name LIMIT $2`,
};

/** Tasks that depend on this one, with their statuses. On task_dependency_prev_idx. */
export const TASK_DEPENDENTS: Statement = {
  name: 'laterz_admin_task_dependents',
  text: `
    SELECT d.name, t.id::text AS id, t.func, t.status::text AS status, t.version, t.broken_reason
      FROM task_dependency d JOIN task t ON t.id = d.next_id
     WHERE d.prev_id = $1 ORDER BY t.id LIMIT $2`,
};

export const COUNT_EDGES: Statement = {
  name: 'laterz_admin_count_edges',
  text: `
    SELECT (SELECT count(*) FROM task_dependency WHERE next_id = $1)::int AS dependencies,
           (SELECT count(*) FROM task_dependency WHERE prev_id = $1)::int AS dependents`,
};

export interface EdgeRow {
  name: string;
  id: string;
  func: string;
  status: string;
  version: number;
  broken_reason: string;
}

/** One step of the graph walk, towards the inputs: the edges into any of $1. */
export const EDGES_INTO: Statement = {
  name: 'laterz_admin_edges_into',
  text: `SELECT prev_id::text AS prev, next_id::text AS next, name FROM task_dependency WHERE next_id = ANY($1::bigint[]) LIMIT $2`,
};

/** One step of the graph walk, towards the dependents: the edges out of any of $1. */
export const EDGES_OUT_OF: Statement = {
  name: 'laterz_admin_edges_out_of',
  text: `SELECT prev_id::text AS prev, next_id::text AS next, name FROM task_dependency WHERE prev_id = ANY($1::bigint[]) LIMIT $2`,
};

export interface GraphEdgeRow {
  prev: string;
  next: string;
  name: string;
}

export const GRAPH_NODES: Statement = {
  name: 'laterz_admin_graph_nodes',
  text: `
    SELECT id::text AS id, collection, func, status::text AS status, version, broken_reason, date_started, date_finished
      FROM task WHERE id = ANY($1::bigint[])`,
};

export interface GraphNodeRow {
  id: string;
  collection: string;
  func: string;
  status: string;
  version: number;
  broken_reason: string;
  date_started: Date | null;
  date_finished: Date | null;
}

/**
 * Progress over the tasks on one side of a task's edges: counts by status, run times of the
 * finished ones, and the span they ran in (for the ETA). `side` is one of two fixed fragments.
 */
function progress(name: string, join: string): Statement {
  return {
    name,
    text: `
      WITH sub AS (
             SELECT t.status, t.date_started, t.date_finished,
                    extract(epoch FROM t.date_finished - t.date_started)::float8 AS secs
               FROM task_dependency d JOIN task t ON ${join}
           )
      SELECT (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
                FROM (SELECT status::text AS status, count(*)::int AS n FROM sub GROUP BY status) s) AS by_status,
             count(*)::int AS total,
             count(*) FILTER (WHERE status IN ${FINISHED})::int AS finished,
             avg(secs) FILTER (WHERE status IN ${FINISHED}) AS avg_secs,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) FILTER (WHERE status IN ${FINISHED}) AS p50_secs,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY secs) FILTER (WHERE status IN ${FINISHED}) AS p95_secs,
             min(date_started) AS first_started,
             max(date_finished) FILTER (WHERE status IN ${FINISHED}) AS last_finished,
             extract(epoch FROM max(date_finished) FILTER (WHERE status IN ${FINISHED})
                           - min(date_started) FILTER (WHERE status IN ${FINISHED}))::float8 AS span_secs,
             now() AS now
        FROM sub`,
  };
}

/** Over the tasks this one depends on (the subtasks a parent waits for). */
export const PROGRESS_OF_DEPENDENCIES = progress('laterz_admin_progress_deps', 't.id = d.prev_id AND d.next_id = $1');
/** Over the tasks that depend on this one. */
export const PROGRESS_OF_DEPENDENTS = progress('laterz_admin_progress_dependents', 't.id = d.next_id AND d.prev_id = $1');

export interface ProgressRow {
  by_status: Record<string, number>;
  total: number;
  finished: number;
  avg_secs: number | null;
  p50_secs: number | null;
  p95_secs: number | null;
  first_started: Date | null;
  last_finished: Date | null;
  span_secs: number | null;
  now: Date;
}

/** Database counts per func and status, for the queues view. */
export const COUNTS_BY_FUNC_STATUS: Statement = {
  name: 'laterz_admin_counts_by_func_status',
  text: `SELECT func, status::text AS status, count(*)::int AS n FROM task GROUP BY func, status ORDER BY func, status`,
};

export const EXISTS_TASK: Statement = {
  name: 'laterz_admin_task_exists',
  text: `SELECT 1 FROM task WHERE id = $1`,
};
