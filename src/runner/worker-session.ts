import { Logger } from '@nestjs/common';
import { DedicatedSession } from '../database/dedicated-session.js';
import type { Queryable, Statement } from '../database/queryable.js';
import { ClaimGateway } from '../tasks/claim.gateway.js';

/**
 * The worker process's one long-lived session, and its whole conversation with the database: the
 * claims, the finishes and the session advisory locks of the running tasks (taken inside the claim,
 * released inside the finish). A crashed process releases all its locks at once, so the dispatcher
 * can tell a running task from a dead one. The connection itself (reconnect, one call at a time, the
 * transaction) is a DedicatedSession.
 */
export class WorkerSession implements Queryable {
  private readonly logger = new Logger(WorkerSession.name);
  private readonly session: DedicatedSession;
  private readonly locks: ClaimGateway;

  constructor(url: string, schema: string) {
    // enable_sort=off: the dequeue must walk task_queued_idx in (priority DESC, id) order up to its
    // LIMIT; with stale statistics (a burst of enqueues) the planner read and sorted the whole queue
    // instead, 11-13 ms per claim against 0.3 ms. The session's other statements sort only a batch.
    this.session = new DedicatedSession({
      url,
      applicationName: 'laterz-worker-session',
      options: `-c search_path=${schema} -c enable_sort=off -c jit=off`,
      label: 'worker session',
    });
    this.session.onLost((reason) => this.logger.error(`worker session lost: ${reason}`));
    this.locks = new ClaimGateway(this.session);
  }

  /** Called when the session is lost: every lock it held is gone, until the runner takes them again. */
  onLost(listener: (reason: string) => void): void {
    this.session.onLost(listener);
  }

  /** One statement (prepared, by name) on the session. */
  rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
    return this.session.rows<T>(statement, values);
  }

  count(statement: Statement, values: unknown[]): Promise<number> {
    return this.session.count(statement, values);
  }

  /** `work` in one transaction on the session; nothing else runs on it meanwhile. */
  transaction<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
    return this.session.transaction(work);
  }

  /** Releases advisory locks this session holds (a lock it does not hold is skipped). */
  async unlock(ids: string[]): Promise<void> {
    if (ids.length === 0 || !this.session.connected) return;
    await this.locks.unlockTasks(ids);
  }

  /**
   * Takes again the locks of `ids` (after the session was lost: their handlers still run here),
   * those it holds already aside; reconnects if need be. The ids whose lock another session holds.
   */
  relock(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.locks.relockTasks(ids);
  }

  /**
   * Releases every task lock this session holds for a task not running here: after a failed
   * claim statement, whose locks survive it, whichever of its rows it had locked.
   */
  async releaseStray(isRunning: (id: string) => boolean): Promise<void> {
    if (!this.session.connected) return;
    const held = await this.locks.heldTaskLocks();
    await this.unlock(held.filter((id) => !isRunning(id)));
  }

  /** The backend pid of the session (tests and the chaos suite use it). */
  pid(): Promise<number> {
    return this.session.pid();
  }

  close(): Promise<void> {
    return this.session.close();
  }
}
