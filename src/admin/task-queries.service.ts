import { Inject, Injectable } from '@nestjs/common';
import { Broker } from '../broker/broker.js';
import type { Executor } from '../tasks/executor.js';
import { filterToSql } from '../tasks/task-filter.js';
import { FuncCatalog } from '../tasks/func-catalog.js';
import { TaskStatus } from '../tasks/task-status.js';
import { TaskNotFound } from '../tasks/tasks.errors.js';
import { ListTasksQuery, TASK_SORTS } from './dto/list-tasks.dto.js';
import { ADMIN_EXECUTOR } from './admin-pool.js';
import { decodeTaskCursor, encodeTaskCursor, sortKeySql } from './task-cursor.js';
import { EdgeRow, GraphEdgeRow, TaskDetailRow, TaskReadsGateway, TaskRow } from './task-reads.gateway.js';

/** Edges of each kind shown by inspect; the counts say when there are more. */
const EDGES_SHOWN = 500;
/** Nodes a graph answer holds at most. */
const GRAPH_NODES_MAX = 500;
/** The funcs' current versions (for `outdated`) are read again when the catalog's copy is older than this. */
const CATALOG_MAX_AGE_MS = 5000;

/** The API's read side: list, inspect, graph, progress, queues. Reads only; the admin pool bounds each statement. */
@Injectable()
export class TaskQueries {
  private readonly tasks: TaskReadsGateway;
  private readonly broker: Broker;
  private readonly admin: Executor;

  constructor(
    @Inject(ADMIN_EXECUTOR) admin: Executor,
    private readonly catalog: FuncCatalog,
  ) {
    this.tasks = new TaskReadsGateway(admin.db);
    this.broker = admin.broker;
    this.admin = admin;
  }

  /** A page of tasks, keyset-paginated on (sort column, id). */
  async list(q: ListTasksQuery) {
    const { where, params } = filterToSql({
      collection: q.collection,
      func: q.func,
      status: q.status,
      brokenReason: q.brokenReason,
      errorContains: q.errorContains,
      modifiedBefore: q.modifiedBefore === undefined ? undefined : new Date(q.modifiedBefore),
    });
    const funcs = await this.catalog.fresh(CATALOG_MAX_AGE_MS, this.admin.db);
    const cursor = q.cursor === undefined ? undefined : decodeTaskCursor(q.cursor, q.sort, q.order);
    const rows = await this.tasks.listPage({
      where,
      params,
      outdated: q.outdated === undefined ? undefined : { want: q.outdated, funcs: funcs.map((f) => f.name), versions: funcs.map((f) => f.version) },
      sort: { ...TASK_SORTS[q.sort], keySql: sortKeySql(q.sort) },
      order: q.order,
      after: cursor && { key: cursor.k, id: cursor.id },
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const nextCursor = rows.length > q.limit && last ? encodeTaskCursor({ s: q.sort, o: q.order, k: last.sort_key, id: last.id }) : null;
    return { items: page.map((r) => this.summary(r)), nextCursor };
  }

  /** The row, its failed attempts, its edges both ways with names and statuses, result and log. */
  async inspect(id: string) {
    const task = await this.tasks.detail(id);
    if (!task) throw new TaskNotFound(id);
    const [attempts, dependencies, dependents, counts] = await Promise.all([
      this.tasks.attempts(id),
      this.tasks.dependencies(id, EDGES_SHOWN),
      this.tasks.dependents(id, EDGES_SHOWN),
      this.tasks.edgeCounts(id),
    ]);
    await this.catalog.fresh(CATALOG_MAX_AGE_MS, this.admin.db);
    const func = this.catalog.get(task.func);
    // Args (and stack traces, which quote them) are shown only for funcs that opt in with logArgs.
    const open = func?.logArgs === true;
    return {
      task: {
        ...this.summary(task),
        ...(open ? { args: task.args } : { argsRedacted: true }),
        result: task.result,
        log: task.log,
        running: this.running(task),
      },
      attempts: attempts.map((a) => ({
        attempt: a.attempt,
        status: a.status,
        brokenReason: a.broken_reason,
        error: open ? a.error : withoutStack(a.error),
        worker: a.worker,
        dateStarted: a.date_started,
        dateFinished: a.date_finished,
      })),
      dependencies: dependencies.map((e) => this.edge(e)),
      dependencyCount: counts.dependencies,
      dependents: dependents.map((e) => this.edge(e)),
      dependentCount: counts.dependents,
    };
  }

  /** The DAG around a task: up to `depth` edges towards its inputs and towards its dependents. */
  async graph(id: string, depth: number) {
    if (!(await this.tasks.exists(id))) throw new TaskNotFound(id);
    await this.catalog.fresh(CATALOG_MAX_AGE_MS, this.admin.db);
    const level = new Map<string, number>([[id, 0]]);
    const edges = new Map<string, GraphEdgeRow>();
    let truncated = false;
    for (const direction of [-1, 1] as const) {
      let frontier = [id];
      for (let step = 1; step <= depth && frontier.length > 0 && !truncated; step++) {
        const room = GRAPH_NODES_MAX - level.size;
        const found = await (direction < 0 ? this.tasks.edgesInto(frontier, room * 4 + 1) : this.tasks.edgesOutOf(frontier, room * 4 + 1));
        const next: string[] = [];
        for (const e of found) {
          const other = direction < 0 ? e.prev : e.next;
          if (!level.has(other)) {
            if (level.size >= GRAPH_NODES_MAX) {
              truncated = true;
              break;
            }
            level.set(other, direction * step);
            next.push(other);
          }
          edges.set(`${e.prev}>${e.next}>${e.name}`, e);
        }
        if (found.length > room * 4) truncated = true;
        frontier = next;
      }
    }
    const nodes = await this.tasks.graphNodes([...level.keys()]);
    const shown = new Set(nodes.map((n) => n.id));
    return {
      root: id,
      depth,
      truncated,
      nodes: nodes
        .map((n) => ({
          id: n.id,
          collection: n.collection,
          func: n.func,
          status: n.status,
          brokenReason: n.broken_reason,
          outdated: this.isOutdated(n),
          level: level.get(n.id) ?? 0,
          dateStarted: n.date_started,
          dateFinished: n.date_finished,
        }))
        .sort((a, b) => a.level - b.level || compareIds(a.id, b.id)),
      edges: [...edges.values()].filter((e) => shown.has(e.prev) && shown.has(e.next)),
    };
  }

  /** Counts by status, run times and an ETA over one side of a task's edges (the edX parent/subtask view). */
  async progress(id: string, of: 'dependencies' | 'dependents') {
    if (!(await this.tasks.exists(id))) throw new TaskNotFound(id);
    const p = await this.tasks.progress(id, of);
    const remaining = p.total - p.finished;
    const rate = p.finished > 0 && p.span_secs !== null && p.span_secs > 0 ? p.finished / p.span_secs : null;
    const elapsed = p.first_started ? (p.now.getTime() - p.first_started.getTime()) / 1000 : null;
    return {
      task: id,
      of,
      total: p.total,
      finished: p.finished,
      remaining,
      percent: p.total === 0 ? 100 : Math.round((1000 * p.finished) / p.total) / 10,
      byStatus: p.by_status,
      durationSeconds: { avg: p.avg_secs, p50: p.p50_secs, p95: p.p95_secs },
      elapsedSeconds: elapsed,
      tasksPerSecond: rate,
      etaSeconds: remaining === 0 ? 0 : rate ? remaining / rate : null,
    };
  }

  /**
   * Per func (this process's and those the database knows): its live servers, its broker queue's
   * ready/unacked counts and the database counts by status; a func with tasks that nobody knows
   * comes last, with nulls.
   */
  async queues() {
    const [counts, funcs] = await Promise.all([this.tasks.countsByFuncStatus(), this.catalog.refresh(this.admin.db)]);
    const byFunc = new Map<string, Record<string, number>>();
    for (const c of counts) byFunc.set(c.func, { ...(byFunc.get(c.func) ?? {}), [c.status]: c.n });
    const registered = await Promise.all(
      funcs.map(async (f) => {
        const spec = { func: f.name, queue: f.queue };
        const depth = f.bulk ? undefined : await this.broker.depth(spec).catch(() => undefined);
        return {
          func: f.name,
          queue: f.queue,
          bulk: f.bulk,
          version: f.version,
          served: f.served,
          servers: f.servers.map((s) => ({ server: s.server, version: s.version, lastSeen: s.lastSeen })),
          brokerQueue: depth?.name ?? null,
          broker: depth ? { ready: depth.ready, unacked: depth.unacked } : null,
          database: byFunc.get(f.name) ?? {},
        };
      }),
    );
    const known = new Set(funcs.map((f) => f.name));
    const unknown = [...byFunc.entries()]
      .filter(([func]) => !known.has(func))
      .map(([func, database]) => ({ func, queue: null, bulk: false, version: null, served: false, servers: [], brokerQueue: null, broker: null, database }));
    return { transport: this.broker.transport, funcs: [...registered, ...unknown].sort((a, b) => a.func.localeCompare(b.func)) };
  }

  private summary(r: TaskRow) {
    return {
      id: r.id,
      collection: r.collection,
      func: r.func,
      status: r.status,
      version: r.version,
      outdated: this.isOutdated(r),
      error: r.error,
      brokenReason: r.broken_reason,
      failCount: r.fail_count,
      attempt: r.attempt,
      priority: r.priority,
      sizeBytes: r.size_bytes,
      runAfter: r.run_after,
      worker: r.worker,
      dateCreated: r.date_created,
      dateModified: r.date_modified,
      dateStarted: r.date_started,
      dateFinished: r.date_finished,
    };
  }

  /**
   * The attempt whose handler has not returned (its lock is held), if any. Abandoned: the row no
   * longer says started (timed out, cancelled, handed back), yet that handler runs on, and the task
   * cannot run again until it returns (for a moment after a finish's write, too: its lock is released just after).
   */
  private running(t: TaskDetailRow) {
    if (!t.lock_held) return null;
    return { abandoned: t.status !== TaskStatus.Started, attempt: t.attempt, since: t.date_started ?? t.date_modified, worker: t.worker };
  }

  private edge(e: EdgeRow) {
    return { name: e.name, id: e.id, func: e.func, status: e.status, brokenReason: e.broken_reason, outdated: this.isOutdated(e) };
  }

  /** Finished at a version other than the func's current one (unknown funcs are never outdated). */
  private isOutdated(r: { func: string; status: string; version: number }): boolean {
    const current = this.catalog.get(r.func)?.version;
    return (r.status === 'success' || r.status === 'broken') && current !== undefined && r.version !== current;
  }
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** The message lines of a recorded error, without the stack frames (which can quote args and paths). */
export function withoutStack(text: string): string {
  const lines = text.split('\n');
  const firstFrame = lines.findIndex((l) => /^\s+at\s/.test(l));
  return (firstFrame < 0 ? lines : lines.slice(0, firstFrame)).join('\n').trimEnd();
}
