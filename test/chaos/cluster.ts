import { ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvSchema } from '../../src/config/env.schema.js';
import { POISON_EXIT_CODE } from './chaos-handlers.js';
import { wallMs } from './execution-log.js';

export type Role = 'worker' | 'scheduler';

/** Why a process ended: the harness's doing, a poison task, or something else (a crash). */
export type ExitCause = 'sigkill' | 'sigterm' | 'teardown' | 'poison' | 'crash';

/** One process's life, kept for the checker (an execution without an end ended when its process did). */
export interface ChildRecord {
  label: string;
  role: Role;
  pid: number;
  logFile: string;
  startedAt: number;
  readyAt?: number;
  /** When the harness asked it to stop (SIGTERM) or killed it. */
  signalledAt?: number;
  exitedAt?: number;
  exit?: string;
  cause?: ExitCause;
}

const READY_TIMEOUT_MS = 120_000;
/** A process still there this long after SIGTERM is SIGKILLed. */
const STUCK_STOP_MS = 60_000;
/** A slot whose process dies this many times in a row before it is ready is not restarted again. */
const MAX_FAILED_STARTS = 5;
/** Every variable laterz reads, and the suite's own: dropped from the inherited environment. */
const INHERITED_DROPPED = new Set([...Object.keys(new EnvSchema()), 'DATABASE_URL', 'AMQP_URL', 'ADMIN_TOKENS']);

interface Live {
  child: ChildProcess;
  record: ChildRecord;
  exited: Promise<void>;
  intent?: 'sigkill' | 'sigterm' | 'teardown';
}

interface Slot {
  label: string;
  role: Role;
  live?: Live;
  failedStarts: number;
  /** Resolves when the slot's current process is ready (a restarted one included). */
  readyWaiters: (() => void)[];
}

export interface ClusterOptions {
  script: string;
  logDir: string;
  env: (role: Role, label: string) => Record<string, string>;
  say: (line: string) => void;
}

/**
 * The processes of one scenario run, supervised: a worker or scheduler that exits while the run
 * goes on is started again in its slot at once (as a supervisor would), whatever ended it.
 */
export class Cluster {
  readonly records: ChildRecord[] = [];
  private readonly slots = new Map<string, Slot>();
  private supervising = true;
  private starts = 0;
  /** Set when a slot could not be kept running: the scenario run is void. */
  failure?: string;

  constructor(private readonly options: ClusterOptions) {}

  /** Starts `count` processes of a role (labels w1.. or s1..) and waits until all are ready. */
  async start(role: Role, count: number): Promise<void> {
    const labels = Array.from({ length: count }, (_, i) => `${role === 'worker' ? 'w' : 's'}${i + 1}`);
    for (const label of labels) {
      const slot: Slot = { label, role, failedStarts: 0, readyWaiters: [] };
      this.slots.set(label, slot);
      this.spawn(slot);
    }
    await Promise.all(labels.map((l) => this.waitReady(l)));
  }

  /** Labels of the slots of a role whose process is up and ready. */
  ready(role: Role): string[] {
    return [...this.slots.values()].filter((s) => s.role === role && s.live?.record.readyAt !== undefined && s.live.record.exitedAt === undefined).map((s) => s.label);
  }

  labels(role: Role): string[] {
    return [...this.slots.values()].filter((s) => s.role === role).map((s) => s.label);
  }

  pid(label: string): number | undefined {
    return this.slots.get(label)?.live?.record.pid;
  }

  /** Resolves once the slot's process (the current one or its replacement) is ready. */
  waitReady(label: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const slot = this.slots.get(label)!;
    if (slot.live?.record.readyAt !== undefined && slot.live.record.exitedAt === undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label}: no ready process after ${timeoutMs / 1000} s${this.failure ? ` (${this.failure})` : ''}`)), timeoutMs);
      slot.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Signals the slot's current process (SIGKILL or SIGTERM) and resolves, with how long it took,
   * once that process has exited. The supervisor starts its replacement.
   */
  async signal(label: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<{ pid: number; exitMs: number }> {
    const live = this.slots.get(label)?.live;
    if (!live || live.record.exitedAt !== undefined) throw new Error(`${label} has no running process`);
    live.intent = signal === 'SIGKILL' ? 'sigkill' : 'sigterm';
    const at = wallMs();
    live.record.signalledAt = at;
    live.child.kill(signal);
    // A worker that does not stop is killed in the end (its check fails on the time it took).
    const timer = signal === 'SIGTERM' ? setTimeout(() => live.child.kill('SIGKILL'), STUCK_STOP_MS) : undefined;
    await live.exited;
    clearTimeout(timer);
    return { pid: live.record.pid, exitMs: live.record.exitedAt! - at };
  }

  /** Stops supervising and ends every process: SIGTERM, then SIGKILL after `graceMs`. */
  async stopAll(graceMs: number): Promise<void> {
    this.supervising = false;
    const lives = [...this.slots.values()].flatMap((s) => (s.live && s.live.record.exitedAt === undefined ? [s.live] : []));
    await Promise.all(
      lives.map(async (live) => {
        live.intent ??= 'teardown';
        live.record.signalledAt ??= wallMs();
        live.child.kill('SIGTERM');
        const timer = setTimeout(() => live.child.kill('SIGKILL'), graceMs);
        await live.exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Last lines of a process's log (for error messages). */
  tail(record: ChildRecord, lines = 15): string {
    try {
      return readFileSync(record.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  private spawn(slot: Slot): void {
    const logFile = join(this.options.logDir, `${slot.label}.${++this.starts}.log`);
    const fd = openSync(logFile, 'a');
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !INHERITED_DROPPED.has(k) && !k.startsWith('CHAOS_')));
    const child = fork(this.options.script, [], {
      env: { ...inherited, ...this.options.env(slot.role, slot.label) },
      stdio: ['ignore', fd, fd, 'ipc'],
      // A process group of its own: a Ctrl-C at the terminal reaches the harness, which stops the
      // processes in order, not each process at once (they would be restarted as if they crashed).
      detached: true,
    });
    closeSync(fd);
    const record: ChildRecord = { label: slot.label, role: slot.role, pid: child.pid ?? -1, logFile, startedAt: wallMs() };
    this.records.push(record);
    let exitedResolve!: () => void;
    const live: Live = { child, record, exited: new Promise<void>((r) => (exitedResolve = r)) };
    slot.live = live;
    child.on('message', (m: { type?: string }) => {
      if (m?.type !== 'ready' || record.readyAt !== undefined) return;
      record.readyAt = wallMs();
      slot.failedStarts = 0;
      const waiters = slot.readyWaiters;
      slot.readyWaiters = [];
      for (const wake of waiters) wake();
    });
    child.on('error', (err) => this.options.say(`${slot.label}: ${err.message}`));
    child.once('exit', (code, signal) => {
      record.exitedAt = wallMs();
      record.exit = signal ?? `code ${code}`;
      record.cause = live.intent ?? (code === POISON_EXIT_CODE ? 'poison' : 'crash');
      if (record.cause === 'crash') this.options.say(`${slot.label} (pid ${record.pid}) exited unexpectedly (${record.exit}):\n${this.tail(record)}`);
      if (record.readyAt === undefined && record.cause !== 'teardown') slot.failedStarts++;
      exitedResolve();
      if (!this.supervising) return;
      if (slot.failedStarts >= MAX_FAILED_STARTS) {
        this.failure = `${slot.label} died ${slot.failedStarts} times before it was ready`;
        this.options.say(this.failure);
        return;
      }
      // A process that died while starting is tried again after 1, 2, 4, 8 s; any other at once.
      const delay = slot.failedStarts === 0 ? 0 : 1000 * 2 ** (slot.failedStarts - 1);
      setTimeout(() => {
        if (this.supervising) this.spawn(slot);
      }, delay);
    });
  }
}
