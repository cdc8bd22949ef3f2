import type { EnqueueOptions, TaskHandle } from '../../tasks/enqueue-request.js';
import type { TaskContext, TaskLogger } from '../../tasks/task-context.js';
import type { TaskId } from '../../tasks/task-status.js';
import { DependencyBroken, ExtraDependency, MissingDependency } from '../../tasks/tasks.errors.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Captures log lines up to a byte cap, keeping the tail. */
export class LogBuffer implements TaskLogger {
  private lines: string[] = [];
  private bytes = 0;
  private dropped = 0;
  /** Lines written so far (dropped ones included): a writer of the log so far compares it with what it wrote. */
  writes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly echo?: (level: LogLevel, message: string) => void,
  ) {}

  debug(message: string): void {
    this.write('debug', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  error(message: string): void {
    this.write('error', message);
  }

  text(): string {
    const head = this.dropped > 0 ? `[${this.dropped} earlier lines dropped]\n` : '';
    return head + this.lines.join('\n');
  }

  private write(level: LogLevel, message: string): void {
    this.writes++;
    this.echo?.(level, message);
    let line = `${new Date().toISOString()} [${level}] ${message}`;
    if (Buffer.byteLength(line) > this.maxBytes) line = utf8Tail(line, this.maxBytes);
    this.lines.push(line);
    this.bytes += Buffer.byteLength(line) + 1;
    while (this.bytes > this.maxBytes && this.lines.length > 1) {
      this.bytes -= Buffer.byteLength(this.lines.shift()!) + 1;
      this.dropped++;
    }
  }
}

/** The Nest logger calls a handler's log line goes to, by its level. */
interface LevelledLogger {
  debug(message: unknown): void;
  log(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
}

/**
 * An echo for a LogBuffer: each line also goes to the process log at its own level (`info` as
 * info), with `fields` (the task id and func, never the args) beside the message.
 */
export function echoTo(logger: LevelledLogger, fields: Readonly<Record<string, unknown>>): (level: LogLevel, message: string) => void {
  return (level, message) => {
    const line = { msg: message, ...fields };
    if (level === 'info') logger.log(line);
    else logger[level](line);
  };
}

/** The last `maxBytes` bytes of `text`, cut at a character boundary (never half a UTF-8 sequence). */
function utf8Tail(text: string, maxBytes: number): string {
  const buf = Buffer.from(text);
  let start = buf.length - maxBytes;
  while (start < buf.length && (buf[start] & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString();
}

/** The context of one run of a task. */
export class RunContext implements TaskContext {
  constructor(
    readonly taskId: TaskId,
    readonly collection: string,
    readonly func: string,
    readonly attempt: number,
    private readonly abort: { readonly signal: AbortSignal },
    readonly logger: TaskLogger,
    private readonly deps: Readonly<Record<string, unknown>>,
    private readonly enqueueFn: (func: string, args: unknown, options: EnqueueOptions) => Promise<TaskHandle>,
  ) {}

  /** Made on first use: most handlers never look at it. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  async requireDependency<T = unknown>(
    name: string,
    enqueue: () => Promise<TaskHandle> | TaskHandle,
    options: { returnError?: boolean } = {},
  ): Promise<T | DependencyBroken> {
    if (Object.hasOwn(this.deps, name)) {
      const value = this.deps[name];
      if (value instanceof DependencyBroken && !options.returnError) throw value;
      return value as T | DependencyBroken;
    }
    const parent = await enqueue();
    throw new MissingDependency(name, parent.id);
  }

  removeDependency(name: string): void {
    if (Object.hasOwn(this.deps, name)) throw new ExtraDependency(name);
  }

  enqueue(func: string, args: unknown, options: EnqueueOptions = {}): Promise<TaskHandle> {
    return this.enqueueFn(func, args, { collection: this.collection, ...options });
  }
}
