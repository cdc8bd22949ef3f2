import type { TaskRow, Transition } from './chaos-db.js';
import { CHAOS_FUNCS } from './chaos-handlers.js';
import type { ChildRecord } from './cluster.js';
import type { Execution } from './execution-log.js';

/** A fault the harness injected. */
export interface Fault {
  at: number;
  kind: string;
  detail?: string;
}

export interface CheckInput {
  tasks: TaskRow[];
  transitions: Transition[];
  executions: Execution[];
  children: ChildRecord[];
  faults: Fault[];
  seedStartedAt: number;
  seedEndedAt: number;
  allowedAttempts: number;
}

/** The checker's figures for one scenario run. */
export interface Figures {
  tasks: number;
  executions: number;
  /** Executions beyond one per task. */
  reruns: number;
  /** Tasks not in a final state at the end. */
  lost: number;
  /** Pairs of executions of one task whose [start, end] overlap. */
  overlapping: number;
  /** Finishes that landed although their attempt was no longer the task's current one. */
  stale: number;
  /** Tasks whose success was committed more than once. */
  duplicateCommits: number;
  /** Executions whose finish committed (the task row took their outcome). */
  committed: number;
  /** Tasks the dispatcher declared dead (broken / task_killed). */
  killed: number;
  /** Of those, killed while their execution was still running in a live process. */
  killedWhileRunning: number;
  /** Running tasks handed back to the queue (shutdown). */
  handedBack: number;
  /** Changes away from success (a completed task sent back to pending, queued or killed). */
  regressions: number;
  /** Tasks that had failed for good (no tries left) and were started again. */
  revived: number;
  /** Starts of a task that was not `queued` (a delivery that should have been dropped). */
  strayStarts: number;
  /** Normal tasks final but not successful (they used up their tries). */
  normalFailed: number;
  /** Executions with neither a recorded end nor an exited process (must be 0 once the run is over). */
  openExecutions: number;
  faults: number;
  /** Processes that exited on their own (not the harness, not a poison task). */
  crashes: number;
  poisonExits: number;
  /** Processes started after the first ones (restarts by the supervisor). */
  restarts: number;
  /** Median seconds from spawn to ready of those restarts. */
  restartSeconds: number | null;
  /** From the first seed until everything was final. */
  totalSeconds: number | null;
  /** From the last fault until everything was final (issue 8: at most 300). */
  settleSeconds: number | null;
  /** Successful normal tasks per second, from the first seed to the last normal success. */
  throughput: number;
}

/** A counter-example, printed when a figure that must be zero is not. */
export interface Example {
  figure: keyof Figures;
  text: string;
}

const FINAL_STATUSES = new Set(['success', 'error', 'broken']);

export function isFinal(t: { status: string; failCount: number; reason: string }, allowedAttempts: number): boolean {
  return t.status === 'success' || (FINAL_STATUSES.has(t.status) && (t.failCount >= allowedAttempts || t.reason === 'cancelled'));
}

/** A change out of `started` within one attempt that a worker's finish wrote (not a kill, not a hand-back). */
function isFinishCommit(t: Transition): boolean {
  if (t.oldStatus !== 'started' || t.newAttempt !== t.oldAttempt) return false;
  if (t.newStatus === 'broken' && t.reason === 'task_killed') return false;
  return t.newStatus !== 'queued' && t.newStatus !== 'started';
}

/** The attempt an outcome says it came from: a success's result, or the poison thrower's message. */
function outcomeAttempt(t: Transition): number | null {
  if (t.newStatus === 'success') return t.resultAttempt;
  const m = /^Error: poison: always throws \(attempt (\d+)\)/.exec(t.error);
  return m ? Number(m[1]) : null;
}

/** Computes every figure of a run from what the database and the worker processes recorded. */
export function check(input: CheckInput): { figures: Figures; examples: Example[]; endOf: (e: Execution) => { at: number; inferred: boolean }; committedKeys: Set<string> } {
  const examples: Example[] = [];
  const example = (figure: keyof Figures, text: string) => {
    if (examples.filter((e) => e.figure === figure).length < 5) examples.push({ figure, text });
  };
  const exitOf = new Map(input.children.map((c) => [c.pid, c]));
  const endOf = (e: Execution): { at: number; inferred: boolean } => {
    if (e.endedAt !== undefined) return { at: e.endedAt, inferred: false };
    // An isolated handler ended by force: when its worker saw its isolate end, or when the worker did.
    const owner = exitOf.get(e.ownerPid ?? e.pid)?.exitedAt ?? Infinity;
    return { at: Math.min(owner, e.isolateEndedAt ?? Infinity), inferred: true };
  };
  const key = (taskId: string, attempt: number) => `${taskId}#${attempt}`;

  // Executions per task, by start.
  const byTask = new Map<string, Execution[]>();
  for (const e of input.executions) {
    const list = byTask.get(e.taskId) ?? [];
    list.push(e);
    byTask.set(e.taskId, list);
  }
  let overlapping = 0;
  for (const list of byTask.values()) {
    list.sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        if (list[j].startedAt >= endOf(list[i]).at) continue;
        overlapping++;
        const [a, b] = [list[i], list[j]];
        example('overlapping', `task ${a.taskId}: attempt ${a.attempt} (pid ${a.pid}, ${iso(a.startedAt)} → ${iso(endOf(a).at)}) and attempt ${b.attempt} (pid ${b.pid}, from ${iso(b.startedAt)})`);
      }
    }
  }

  let stale = 0;
  let killed = 0;
  let handedBack = 0;
  let regressions = 0;
  let killedWhileRunning = 0;
  let revived = 0;
  let strayStarts = 0;
  const successCommits = new Map<string, number>();
  const committedKeys = new Set<string>();
  const execByKey = new Map(input.executions.map((e) => [key(e.taskId, e.attempt), e]));
  for (const t of input.transitions) {
    if (t.oldStatus === 'success') {
      regressions++;
      example('regressions', `task ${t.taskId}: success → ${t.newStatus}${t.reason ? ` (${t.reason})` : ''} at ${iso(t.at)}`);
    }
    if (t.newStatus === 'started' && t.oldStatus !== 'started' && t.oldStatus !== 'queued') {
      strayStarts++;
      example('strayStarts', `task ${t.taskId}: started from ${t.oldStatus} (attempt ${t.newAttempt}, ${t.failCount} fails) at ${iso(t.at)}`);
      if (FINAL_STATUSES.has(t.oldStatus) && t.failCount >= input.allowedAttempts) {
        revived++;
        example('revived', `task ${t.taskId}: ${t.oldStatus} after ${t.failCount} fails, started again (attempt ${t.newAttempt}) at ${iso(t.at)}`);
      }
    }
    if (t.newStatus === 'success' && t.oldStatus !== 'started') {
      stale++;
      example('stale', `task ${t.taskId}: success written over ${t.oldStatus} (attempt ${t.oldAttempt}) at ${iso(t.at)}`);
      continue;
    }
    if (t.oldStatus === 'started' && t.newStatus === 'queued') handedBack++;
    if (t.oldStatus === 'started' && t.newStatus === 'broken' && t.reason === 'task_killed') {
      killed++;
      const e = execByKey.get(key(t.taskId, t.oldAttempt));
      const owner = e ? exitOf.get(e.ownerPid ?? e.pid) : undefined;
      // Still running: the handler had not stopped, and its process was alive, when it was declared dead.
      if (e && e.startedAt <= t.at && endOf(e).at > t.at && (!owner?.exitedAt || owner.exitedAt > t.at)) {
        killedWhileRunning++;
        example('killedWhileRunning', `task ${t.taskId} attempt ${t.oldAttempt} killed at ${iso(t.at)} while running in pid ${e.pid} since ${iso(e.startedAt)}`);
      }
    }
    if (!isFinishCommit(t)) continue;
    committedKeys.add(key(t.taskId, t.oldAttempt));
    const from = outcomeAttempt(t);
    if (from !== null && from !== t.oldAttempt) {
      stale++;
      example('stale', `task ${t.taskId}: ${t.newStatus} from attempt ${from} landed on attempt ${t.oldAttempt} at ${iso(t.at)}`);
    }
    if (t.newStatus === 'success') successCommits.set(t.taskId, (successCommits.get(t.taskId) ?? 0) + 1);
  }
  const duplicateCommits = [...successCommits.values()].filter((n) => n > 1).length;
  for (const [taskId, n] of successCommits) if (n > 1) example('duplicateCommits', `task ${taskId}: ${n} successes committed`);

  let lost = 0;
  let normalFailed = 0;
  for (const t of input.tasks) {
    if (!isFinal(t, input.allowedAttempts)) {
      lost++;
      example('lost', `task ${t.id} (${t.func}) ended ${t.status}${t.reason ? `/${t.reason}` : ''}, attempt ${t.attempt}, ${t.failCount} fails`);
    } else if (t.func === CHAOS_FUNCS.work && t.status !== 'success') {
      normalFailed++;
      example('normalFailed', `task ${t.id} ended ${t.status}${t.reason ? `/${t.reason}` : ''} after ${t.failCount} fails`);
    }
  }

  const openExecutions = input.executions.filter((e) => !Number.isFinite(endOf(e).at)).length;
  const workIds = new Set(input.tasks.filter((t) => t.func === CHAOS_FUNCS.work).map((t) => t.id));
  const workSuccesses = input.transitions.filter((t) => t.newStatus === 'success' && workIds.has(t.taskId));
  const lastWorkSuccess = maxOf(workSuccesses.map((t) => t.at), input.seedStartedAt);
  const allFinalAt = lost === 0 ? maxOf(input.transitions.map((t) => t.at), input.seedEndedAt) : null;
  const lastFaultAt = input.faults.length > 0 ? maxOf(input.faults.map((f) => f.at), 0) : input.seedEndedAt;
  const seconds = (ms: number) => Math.round(ms / 100) / 10;
  // Records are in spawn order: the first of each slot is its initial process, the rest restarts.
  const slots = new Set<string>();
  const restarts: number[] = [];
  for (const c of input.children) {
    if (!slots.has(c.label)) slots.add(c.label);
    else if (c.readyAt !== undefined) restarts.push(c.readyAt - c.startedAt);
  }

  return {
    figures: {
      tasks: input.tasks.length,
      executions: input.executions.length,
      reruns: input.executions.length - byTask.size,
      lost,
      overlapping,
      stale,
      duplicateCommits,
      committed: input.executions.filter((e) => committedKeys.has(key(e.taskId, e.attempt))).length,
      killed,
      killedWhileRunning,
      handedBack,
      regressions,
      revived,
      strayStarts,
      normalFailed,
      openExecutions,
      faults: input.faults.length,
      crashes: input.children.filter((c) => c.cause === 'crash').length,
      poisonExits: input.children.filter((c) => c.cause === 'poison').length,
      restarts: restarts.length,
      restartSeconds: restarts.length === 0 ? null : seconds(median(restarts)),
      totalSeconds: allFinalAt === null ? null : seconds(allFinalAt - input.seedStartedAt),
      settleSeconds: allFinalAt === null ? null : seconds(Math.max(0, allFinalAt - lastFaultAt)),
      throughput: Math.round(workSuccesses.length / Math.max(0.001, (lastWorkSuccess - input.seedStartedAt) / 1000)),
    },
    examples,
    endOf,
    committedKeys,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The largest value, or `floor` (no spread: a run has more transitions than a call has arguments). */
function maxOf(values: number[], floor: number): number {
  return values.reduce((m, v) => (v > m ? v : m), floor);
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(11, 23) : '(never)';
}
