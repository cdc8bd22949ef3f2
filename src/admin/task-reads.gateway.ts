import type { Db } from '../database/db.js';
import {
  AttemptRow,
  COUNT_EDGES,
  COUNTS_BY_FUNC_STATUS,
  EdgeRow,
  EDGES_INTO,
  EDGES_OUT_OF,
  EXISTS_TASK,
  GRAPH_NODES,
  GraphEdgeRow,
  GraphNodeRow,
  PROGRESS_OF_DEPENDENCIES,
  PROGRESS_OF_DEPENDENTS,
  ProgressRow,
  TASK_ATTEMPTS,
  TASK_DEPENDENCIES,
  TASK_DEPENDENTS,
  TASK_DETAIL,
  TaskDetailRow,
  TaskRow,
} from './sql/inspect.sql.js';
import { listTasksStatement, type ListTasksSpec } from './sql/list-tasks.sql.js';

export type { AttemptRow, EdgeRow, GraphEdgeRow, GraphNodeRow, ListTasksSpec, ProgressRow, TaskDetailRow, TaskRow };

/** A listed task and the key of its sort column (for the next page's cursor). */
export type ListedTaskRow = TaskRow & { sort_key: string };

/** The admin API's reads of tasks and their edges (list, inspect, graph, progress, queues), on the admin pool's Db. */
export class TaskReadsGateway {
  constructor(private readonly db: Db) {}

  /** The rows of a page of tasks: `spec.limit` at most, keyset-paginated on (sort column, id). */
  listPage(spec: ListTasksSpec): Promise<ListedTaskRow[]> {
    const { text, values } = listTasksStatement(spec); // built per call: no name
    return this.db.rows<ListedTaskRow>({ text }, values);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.db.rows(EXISTS_TASK, [id])).length > 0;
  }

  /** The task with its error, args, result and log; undefined when there is no such task. */
  async detail(id: string): Promise<TaskDetailRow | undefined> {
    const [task] = await this.db.rows<TaskDetailRow>(TASK_DETAIL, [id]);
    return task;
  }

  /** Its failed and killed attempts, newest first. */
  attempts(id: string): Promise<AttemptRow[]> {
    return this.db.rows<AttemptRow>(TASK_ATTEMPTS, [id]);
  }

  /** Up to `limit` of the tasks it depends on, by edge name. */
  dependencies(id: string, limit: number): Promise<EdgeRow[]> {
    return this.db.rows<EdgeRow>(TASK_DEPENDENCIES, [id, limit]);
  }

  /** Up to `limit` of the tasks that depend on it, by id. */
  dependents(id: string, limit: number): Promise<EdgeRow[]> {
    return this.db.rows<EdgeRow>(TASK_DEPENDENTS, [id, limit]);
  }

  /** How many edges it has each way. */
  async edgeCounts(id: string): Promise<{ dependencies: number; dependents: number }> {
    const [counts] = await this.db.rows<{ dependencies: number; dependents: number }>(COUNT_EDGES, [id]);
    return counts;
  }

  /** Up to `limit` edges into any of `ids` (a step of the graph walk towards the inputs). */
  edgesInto(ids: string[], limit: number): Promise<GraphEdgeRow[]> {
    return this.db.rows<GraphEdgeRow>(EDGES_INTO, [ids, limit]);
  }

  /** Up to `limit` edges out of any of `ids` (a step of the graph walk towards the dependents). */
  edgesOutOf(ids: string[], limit: number): Promise<GraphEdgeRow[]> {
    return this.db.rows<GraphEdgeRow>(EDGES_OUT_OF, [ids, limit]);
  }

  /** The graph's nodes: the tasks `ids` (those that exist). */
  graphNodes(ids: string[]): Promise<GraphNodeRow[]> {
    return this.db.rows<GraphNodeRow>(GRAPH_NODES, [ids]);
  }

  /** Counts by status, run times and span over the tasks on one side of its edges. */
  async progress(id: string, of: 'dependencies' | 'dependents'): Promise<ProgressRow> {
    const [row] = await this.db.rows<ProgressRow>(of === 'dependencies' ? PROGRESS_OF_DEPENDENCIES : PROGRESS_OF_DEPENDENTS, [id]);
    return row;
  }

  /** Tasks per func and status, every func with a row. */
  countsByFuncStatus(): Promise<{ func: string; status: string; n: number }[]> {
    return this.db.rows<{ func: string; status: string; n: number }>(COUNTS_BY_FUNC_STATUS, []);
  }
}
