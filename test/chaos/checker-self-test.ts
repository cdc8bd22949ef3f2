import type { TaskRow, Transition } from './chaos-db.js';
import { CHAOS_FUNCS } from './chaos-handlers.js';
import { check, CheckInput, Figures } from './checker.js';
import type { ChildRecord } from './cluster.js';
import type { Execution } from './execution-log.js';

/*
 * The checker proves, before each suite run, that it sees every violation it reports: made-up
 * histories with one violation each must raise exactly the figure that names it, and a clean
 * history none. A checker that reports zeros because it looks at nothing would fail here.
 */

const T0 = 1_000_000;

function task(id: string, status = 'success', attempt = 1, failCount = 0, reason = ''): TaskRow {
  return { id, func: CHAOS_FUNCS.work, status, attempt, failCount, reason, resultAttempt: status === 'success' ? attempt : null };
}

function run(taskId: string, attempt: number, pid: number, start: number, end?: number): Execution {
  return { id: `${pid}.${taskId}.${attempt}`, taskId, attempt, func: CHAOS_FUNCS.work, pid, startedAt: T0 + start, endedAt: end === undefined ? undefined : T0 + end, outcome: end === undefined ? undefined : 'ok' };
}

/** The same run in a child isolate (pid 900) of worker 10, ended by force (no end of its own), its end seen by the worker at `isolateEnd`. */
function isolated(e: Execution, isolateEnd?: number): Execution {
  return { ...e, pid: 900, ownerPid: 10, isolate: 'p900', isolateEndedAt: isolateEnd === undefined ? undefined : T0 + isolateEnd };
}

let seq = 0;
function step(taskId: string, at: number, from: string, to: string, attempt: number, extra: Partial<Transition> = {}): Transition {
  const newAttempt = from !== 'started' && to === 'started' ? attempt + 1 : attempt;
  return {
    seq: ++seq,
    taskId,
    at: T0 + at,
    oldStatus: from,
    newStatus: to,
    oldAttempt: attempt,
    newAttempt,
    reason: '',
    failCount: 0,
    resultAttempt: to === 'success' ? attempt : null,
    error: '',
    ...extra,
  };
}

/** One task run once, cleanly: queued → started (attempt 1) → success. */
function clean(id: string, pid = 10, at = 0): { tasks: TaskRow[]; transitions: Transition[]; executions: Execution[] } {
  return {
    tasks: [task(id)],
    transitions: [step(id, at, 'queued', 'started', 0), step(id, at + 20, 'started', 'success', 1)],
    executions: [run(id, 1, pid, at + 1, at + 15)],
  };
}

const child = (pid: number, exitedAt?: number): ChildRecord => ({ label: `w${pid}`, role: 'worker', pid, logFile: '', startedAt: T0 - 1000, readyAt: T0 - 500, exitedAt: exitedAt === undefined ? undefined : T0 + exitedAt, cause: 'sigkill' });

function input(parts: Partial<CheckInput>): CheckInput {
  return { tasks: [], transitions: [], executions: [], children: [child(10, 10_000), child(11, 10_000)], faults: [], seedStartedAt: T0, seedEndedAt: T0, allowedAttempts: 5, ...parts };
}

const CASES: { name: string; expect: Partial<Figures>; input: CheckInput }[] = [
  { name: 'a clean run', expect: {}, input: input(clean('1')) },
  {
    name: 'a task still queued at the end',
    expect: { lost: 1 },
    input: input({ tasks: [task('1', 'queued', 0)] }),
  },
  {
    name: 'a task in error with tries left',
    expect: { lost: 1 },
    input: input({ tasks: [task('1', 'error', 1, 1)] }),
  },
  {
    name: 'a second execution starting before the first ended',
    expect: { overlapping: 1, reruns: 1 },
    input: input({ ...clean('1'), executions: [run('1', 1, 10, 1, 50), run('1', 2, 11, 30, 60)] }),
  },
  {
    name: 'a killed process whose task ran again at once',
    expect: { overlapping: 1, reruns: 1 },
    input: input({ ...clean('1'), executions: [run('1', 1, 10, 1), run('1', 2, 11, 30, 60)], children: [child(10, 100), child(11, 10_000)] }),
  },
  {
    name: 'an isolate ended by force after its task ran again (issue 17)',
    expect: { overlapping: 1, reruns: 1 },
    input: input({ ...clean('1'), executions: [isolated(run('1', 1, 10, 1), 40), run('1', 2, 11, 30, 60)] }),
  },
  {
    name: 'an isolated handler of a gone process whose isolate end was never seen',
    expect: { overlapping: 1, reruns: 1 },
    input: input({ ...clean('1'), executions: [isolated(run('1', 1, 900, 1)), run('1', 2, 11, 30, 60)], children: [child(10, 100), child(11, 10_000)] }),
  },
  {
    name: 'an isolate ended by force before its task ran again: no overlap',
    expect: { reruns: 1 },
    input: input({ ...clean('1'), executions: [isolated(run('1', 1, 10, 1), 25), run('1', 2, 11, 30, 60)] }),
  },
  {
    name: 'a superseded attempt whose success landed',
    expect: { stale: 1 },
    input: input({
      tasks: [task('1', 'success', 2)],
      transitions: [step('1', 0, 'queued', 'started', 0), step('1', 10, 'started', 'broken', 1, { reason: 'task_killed' }), step('1', 20, 'broken', 'queued', 1), step('1', 30, 'queued', 'started', 1), step('1', 40, 'started', 'success', 2, { resultAttempt: 1 })],
      executions: [run('1', 1, 10, 1, 5), run('1', 2, 11, 31, 35)],
    }),
  },
  {
    name: 'a success written over a row that was not running',
    expect: { stale: 1 },
    input: input({ tasks: [task('1')], transitions: [step('1', 0, 'queued', 'started', 0), step('1', 10, 'started', 'broken', 1, { reason: 'task_killed' }), step('1', 20, 'broken', 'success', 1)] }),
  },
  {
    name: 'a completed task sent back to the queue',
    expect: { regressions: 1, duplicateCommits: 1 },
    input: input({
      ...clean('1'),
      transitions: [...clean('1').transitions, step('1', 30, 'success', 'queued', 1), step('1', 40, 'queued', 'started', 1), step('1', 50, 'started', 'success', 2)],
    }),
  },
  {
    name: 'a task declared dead while its handler ran in a live process',
    expect: { killedWhileRunning: 1, killed: 1 },
    input: input({
      tasks: [task('1', 'success', 2)],
      transitions: [step('1', 0, 'queued', 'started', 0), step('1', 10, 'started', 'broken', 1, { reason: 'task_killed' }), step('1', 100, 'broken', 'queued', 1), step('1', 110, 'queued', 'started', 1), step('1', 130, 'started', 'success', 2)],
      executions: [run('1', 1, 10, 1, 50), run('1', 2, 11, 111, 120)],
    }),
  },
  {
    name: 'a task out of tries started again by a stray delivery',
    expect: { revived: 1, strayStarts: 1, lost: 0 },
    input: input({
      tasks: [task('1', 'error', 2, 6)],
      transitions: [step('1', 0, 'queued', 'started', 0), step('1', 10, 'started', 'error', 1, { failCount: 5 }), step('1', 20, 'error', 'started', 1, { failCount: 5 }), step('1', 30, 'started', 'error', 2, { failCount: 6 })],
      executions: [run('1', 1, 10, 1, 5), run('1', 2, 11, 21, 25)],
    }),
  },
];

/** Runs every case; returns what the checker got wrong (empty when it is sound). */
export function checkerSelfTest(): string[] {
  const problems: string[] = [];
  for (const c of CASES) {
    const { figures } = check(c.input);
    const zeroes: (keyof Figures)[] = ['lost', 'overlapping', 'stale', 'duplicateCommits', 'regressions', 'revived', 'strayStarts', 'killedWhileRunning', 'openExecutions'];
    for (const name of zeroes) {
      const want = c.expect[name] ?? 0;
      if (figures[name] !== want) problems.push(`${c.name}: ${name} is ${figures[name]}, expected ${want}`);
    }
    for (const [name, want] of Object.entries(c.expect)) {
      if (!zeroes.includes(name as keyof Figures) && figures[name as keyof Figures] !== want) {
        problems.push(`${c.name}: ${name} is ${figures[name as keyof Figures]}, expected ${want}`);
      }
    }
  }
  return problems;
}
