import type { PublishRef } from '../../broker/broker.js';
import type { ClaimRow, LockedRow, ParentRow } from '../../tasks/claim.gateway.js';
import { BrokenReason, FINISHED_STATUSES, TaskStatus } from '../../tasks/task-status.js';
import { DependencyBroken } from '../../tasks/tasks.errors.js';

/*
 * What a claim does with each row, as pure functions (River's makeRetryDecision): the claimer's
 * statements read and write, these decide. The fast path's statement (CLAIM_DELIVERED / CLAIM_QUEUED)
 * still decides one thing in SQL, for speed: it starts the rows that are plainly runnable (the
 * `start` rule of planClaim below, for rows without a parent in error or waiting) in the same
 * statement that locks them, and hands a paused collection's queued rows back to pending. Every row
 * it does not start comes back and is decided here.
 */

/** A task this worker now runs: `attempt` is its fencing token. */
export interface ClaimedTask {
  id: string;
  collection: string;
  func: string;
  args: unknown;
  attempt: number;
  sizeBytes: number;
  deps: Record<string, unknown>;
  /** Failed attempts before this one (the retry policy counts them); 0 when unknown. */
  failCount?: number;
  /** The enqueue's override of the func's retry policy, as stored. */
  retry?: unknown;
}

/** The version of each func registered in this process, by name (a row of one is completed only at that version). */
export type FuncVersions = ReadonlyMap<string, number>;

/** The funcs this worker claims now: its own, less those a newer version runs elsewhere (FuncCatalog). */
export type ClaimedFuncs = ReadonlySet<string>;

/** A row the claim does not start: `deferred` (a parent is not completed) or `broken`. */
export interface NotRunnable {
  id: string;
  status: TaskStatus.Deferred | TaskStatus.Broken;
  reason: string;
  error: string;
  /** The func's current version, written with the new status; null keeps the row's own. */
  version: number | null;
}

/** A parent's outcome as its child's handler gets it. */
export interface ParentOutcome {
  name: string;
  status: string;
  result: unknown;
  error: string;
  reason: string;
}

/** The transactional claim's decision for every row it locked. */
export interface ClaimPlan {
  /** Rows to start (those whose advisory lock is free start), with their handler's `deps`. */
  start: { row: LockedRow; deps: Record<string, unknown> }[];
  /** Rows that cannot run now, and what they become. */
  notRunnable: NotRunnable[];
  /** Parents a deferred row waits for: handed to the broker so they run first. */
  queueParents: string[];
  /** Tasks whose children are handed to the broker: completed rows delivered again, rows broken by a parent in error. */
  queueChildrenOf: string[];
}

/** Success or broken at the func's current version (at any version for a func not served here). */
export function isCompleted(row: { func: string; status: string; version: number }, versions: FuncVersions): boolean {
  if (!FINISHED_STATUSES.includes(row.status as TaskStatus)) return false;
  const current = versions.get(row.func);
  return current === undefined || row.version === current;
}

/** Running, or failed and waiting for its retry tier: a late or duplicate delivery must not start it. */
function leftAlone(row: { status: string }): boolean {
  return row.status === TaskStatus.Started || row.status === TaskStatus.Error;
}

/** The handler's `deps`: each parent's result, or a DependencyBroken value for a broken parent. */
export function depsOf(parents: readonly ParentOutcome[]): Record<string, unknown> {
  // No prototype: a dependency named `__proto__` is a key like any other.
  const deps: Record<string, unknown> = Object.create(null);
  for (const p of parents) deps[p.name] = p.status === TaskStatus.Success ? p.result : new DependencyBroken(p.name, p.reason, p.error);
  return deps;
}

export function claimedTask(row: LockedRow, attempt: number, deps: Record<string, unknown>): ClaimedTask {
  return { id: row.id, collection: row.collection, func: row.func, args: row.args, attempt, sizeBytes: Number(row.size_bytes), deps, failCount: row.fail_count, retry: row.retry };
}

/**
 * What the fast path's statement left: the rows it started run; a paused row is left alone (the
 * statement handed a queued one back to pending), and so is a busy one (its advisory lock is held:
 * an earlier attempt's handler has not returned; handed back the same way), a running or a failed
 * one; a row of a
 * func this worker does not claim is left as it is, and a queued one goes back to its queue
 * (`handBack`: another worker's, or this one's once it claims that func again); every other row is
 * `unsettled`, for the transactional claim (a parent not completed or in error, a completed row).
 */
export function afterFastPath(rows: readonly ClaimRow[], claims: ClaimedFuncs): { started: ClaimedTask[]; unsettled: string[]; handBack: PublishRef[] } {
  const started: ClaimedTask[] = [];
  const unsettled: string[] = [];
  const handBack: PublishRef[] = [];
  for (const row of rows) {
    if (row.started_attempt !== null) started.push(claimedTask(row, row.started_attempt, depsOf(row.parents ?? [])));
    else if (row.busy || row.expired) continue;
    else if (!claims.has(row.func)) {
      if (row.status === TaskStatus.Queued && !row.paused) handBack.push({ collection: row.collection, taskId: row.id, func: row.func, priority: row.priority });
    } else if (!row.paused && !leftAlone(row)) unsettled.push(row.id);
  }
  return { started, unsettled, handBack };
}

/** What a locked row is before its parents are looked at. */
type Triage = 'left' | 'completed' | 'elsewhere' | 'candidate';

function triage(row: LockedRow, versions: FuncVersions, claims: ClaimedFuncs): Triage {
  if (leftAlone(row)) return 'left';
  if (isCompleted(row, versions)) return 'completed';
  if (!claims.has(row.func)) return 'elsewhere';
  return 'candidate';
}

/** The rows whose parents the transactional claim must read: candidates that have any. */
export function rowsNeedingParents(rows: readonly LockedRow[], versions: FuncVersions, claims: ClaimedFuncs): string[] {
  return rows.filter((r) => r.has_prev && triage(r, versions, claims) === 'candidate').map((r) => r.id);
}

/** Parent rows grouped by the child that asked for them. */
export function parentsByChild(parents: readonly ParentRow[]): Map<string, ParentRow[]> {
  const byChild = new Map<string, ParentRow[]>();
  for (const p of parents) {
    const list = byChild.get(p.next_id);
    if (list) list.push(p);
    else byChild.set(p.next_id, [p]);
  }
  return byChild;
}

/**
 * The transactional claim's decision for each locked row, as the seed's claim does it: a running
 * or failed row is left alone; a row completed at its func's version only queues its children; a
 * row of a func this worker does not claim (`claims`: another app's, or one a newer version runs
 * elsewhere) is left as it is, never broken; a parent in error breaks the row
 * (`dependency_has_error`) and queues its children; a parent not completed defers the row and
 * queues that parent; otherwise the row starts with its parents' outcomes as `deps`.
 */
export function planClaim(rows: readonly LockedRow[], parents: ReadonlyMap<string, readonly ParentRow[]>, versions: FuncVersions, claims: ClaimedFuncs): ClaimPlan {
  const plan: ClaimPlan = { start: [], notRunnable: [], queueParents: [], queueChildrenOf: [] };
  const candidates: LockedRow[] = [];
  for (const row of rows) {
    switch (triage(row, versions, claims)) {
      case 'left':
      case 'elsewhere':
        break;
      case 'completed':
        plan.queueChildrenOf.push(row.id);
        break;
      case 'candidate':
        candidates.push(row);
    }
  }
  const queueParents = new Set<string>();
  for (const row of candidates) {
    const ps = parents.get(row.id) ?? [];
    const version = versions.get(row.func)!;
    if (ps.some((p) => p.status === TaskStatus.Error)) {
      plan.notRunnable.push({ id: row.id, status: TaskStatus.Broken, reason: BrokenReason.DependencyHasError, error: '', version });
      plan.queueChildrenOf.push(row.id);
      continue;
    }
    const waiting = ps.filter((p) => !isCompleted(p, versions));
    if (waiting.length > 0) {
      plan.notRunnable.push({ id: row.id, status: TaskStatus.Deferred, reason: '', error: '', version });
      for (const p of waiting) queueParents.add(p.id);
      continue;
    }
    plan.start.push({ row, deps: depsOf(ps.map((p) => ({ name: p.name, status: p.status, result: p.result, error: p.error, reason: p.broken_reason }))) });
  }
  plan.queueParents = [...queueParents];
  return plan;
}

/** The planned rows that started (their advisory lock was free), with the attempt the start wrote. */
export function startedTasks(start: ClaimPlan['start'], attempts: ReadonlyMap<string, number>): ClaimedTask[] {
  const started: ClaimedTask[] = [];
  for (const { row, deps } of start) {
    const attempt = attempts.get(row.id);
    if (attempt !== undefined) started.push(claimedTask(row, attempt, deps));
  }
  return started;
}

/**
 * What goes to the broker after the queue statements: the rows they made `queued` (a bulk func's
 * went to `pending`, for the bulk runner, and a row locked elsewhere was skipped).
 */
export function toPublish(rows: readonly (PublishRef & { status: string })[]): PublishRef[] {
  return rows.filter((r) => r.status === TaskStatus.Queued).map(({ collection, taskId, func, priority }) => ({ collection, taskId, func, priority }));
}
