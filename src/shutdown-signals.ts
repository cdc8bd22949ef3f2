/** The signals laterz stops on, with the exit code of a process ended by each (128 + its number). */
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignal = keyof typeof EXIT_CODES;

type State = 'starting' | 'up' | 'shutting-down';

/**
 * SIGINT and SIGTERM. Once laterz is up, the first one shuts it down gracefully (running tasks
 * finish or are handed back, pools close, the embedded server stops last), then exits 0. One that
 * arrives while laterz is still starting, or while it is already shutting down (a second Ctrl-C),
 * exits at once: the embedded server, which runs in a session of its own and so never sees the
 * terminal's signals, is told to stop on exit.
 */
export class ShutdownSignals {
  private state: State = 'starting';
  private shutdown?: (signal: string) => Promise<void>;
  private warn: (line: string) => void = (line) => console.error(line);

  constructor() {
    for (const signal of Object.keys(EXIT_CODES) as StopSignal[]) process.on(signal, () => this.received(signal));
  }

  /** laterz is up: from now on the first signal runs `shutdown`. */
  up(shutdown: (signal: string) => Promise<void>, warn: (line: string) => void): void {
    this.shutdown = shutdown;
    this.warn = warn;
    this.state = 'up';
  }

  private received(signal: StopSignal): void {
    if (this.state !== 'up') {
      this.warn(`${signal} while ${this.state === 'starting' ? 'starting' : 'shutting down'}: exiting at once`);
      process.exit(EXIT_CODES[signal]);
    }
    this.state = 'shutting-down';
    this.shutdown!(signal).then(
      () => process.exit(0),
      (err: Error) => {
        console.error('shutdown failed:', err.message);
        process.exit(1);
      },
    );
  }
}
