import type { GuardedRun } from './handler-guard.js';

/**
 * How one run is stopped (timeout, cancel, shutdown, a lost session). Its AbortController is made
 * only when the handler first reads the signal (most never do), and the run's race is rejected
 * directly instead of through a listener on the signal: both were a visible share of a no-op
 * task's cost in the runner.
 */
export class RunAbort {
  aborted = false;
  reason: unknown;
  /**
   * The raced handler has not settled yet. An abort ends the race at once, but not the handler:
   * one deaf to its signal runs on, and its task's lock and slot must stay held until it returns.
   */
  handlerRunning = false;
  private controller?: AbortController;
  private rejectRace?: (reason: unknown) => void;
  private settledHandler?: Promise<void>;
  private onHandlerSettled?: () => void;
  private listeners?: ((reason: unknown) => void)[];

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
    for (const listener of this.listeners ?? []) listener(reason);
  }

  /**
   * Calls `listener` with the reason when the run is aborted (at once if it is already), without
   * the AbortController a listener on `signal` would make. Returns what removes it.
   */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.aborted) {
      listener(this.reason);
      return () => undefined;
    }
    (this.listeners ??= []).push(listener);
    return () => {
      this.listeners = this.listeners?.filter((l) => l !== listener);
    };
  }

  /** `work`, or a rejection with the abort's reason as soon as the run is aborted. */
  race<T>(work: Promise<T>): Promise<T> {
    this.handlerRunning = true;
    if (this.aborted) {
      // Aborted while the handler was being called (the guard failed it: process.exit): its own
      // outcome no longer matters, and must not become an unhandled rejection.
      work.then(
        () => this.handlerSettled(),
        () => this.handlerSettled(),
      );
      return Promise.reject(this.reason);
    }
    // The handler's settling is noted in the race's own reactions: no extra promise per task.
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      work.then(
        (value) => {
          this.handlerSettled();
          resolve(value);
        },
        (err: unknown) => {
          this.handlerSettled();
          reject(err);
        },
      );
    });
  }

  /** Resolves once the raced handler has settled (at once when it has, or none was raced). */
  whenHandlerSettled(): Promise<void> {
    if (!this.handlerRunning) return Promise.resolve();
    return (this.settledHandler ??= new Promise<void>((resolve) => (this.onHandlerSettled = resolve)));
  }

  private handlerSettled(): void {
    this.handlerRunning = false;
    this.onHandlerSettled?.();
  }
}

/**
 * A run the handler guard can fail (a process.exit, an error escaping the handler's promise
 * chain): aborted with the guard's error, until its race has settled.
 */
export class GuardedAbort extends RunAbort implements GuardedRun {
  /** The race has settled, so the outcome is decided: failing the run changes nothing any more. */
  private settled = false;

  constructor(readonly describe: () => string) {
    super();
  }

  override race<T>(work: Promise<T>): Promise<T> {
    return super.race(work).finally(() => (this.settled = true));
  }

  fail(err: Error): boolean {
    if (this.settled) return false;
    this.abort(err);
    return true;
  }
}
