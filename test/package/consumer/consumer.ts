// A user's app on the packed package, type-checked by test/package/install.pkg-spec.ts in a fresh
// project outside the repository (strict, nodenext). It imports 'laterz' only, as a user would.
import { Injectable, Module } from '@nestjs/common';
import {
  AppConfig,
  bootstrap,
  CollectionsModule,
  CollectionsService,
  DependencyBroken,
  FINISHED_STATUSES,
  LaterzError,
  type LaterzErrorCode,
  LaterzTesting,
  type IdleReport,
  type Running,
  TaskBroken,
  type TaskContext,
  TaskHandler,
  type TaskId,
  TasksModule,
  TasksService,
  TaskStatus,
  UnknownFunc,
} from 'laterz';
// @ts-expect-error: only the package's root is exported; its files are internal.
import type { TasksService as _Internal } from 'laterz/dist/src/tasks/tasks.service.js';

@Injectable()
export class GreetTasks {
  @TaskHandler('greet.name', { version: 1, queue: 'greet', timeout: '10s' })
  async name(args: { who: string }): Promise<string> {
    if (args.who === '') throw new TaskBroken('empty_name', 'nobody to greet');
    return args.who.toUpperCase();
  }

  @TaskHandler('greet.say', { version: 1, queue: 'greet' })
  async say(args: { who: string }, _deps: Record<string, unknown>, ctx: TaskContext): Promise<{ text: string; task: TaskId }> {
    const name = await ctx.requireDependency<string>('name', () => ctx.enqueue('greet.name', args), { returnError: true });
    if (name instanceof DependencyBroken) throw name;
    ctx.logger.info(`greeting ${name} (attempt ${ctx.attempt})`);
    return { text: `hello ${name}`, task: ctx.taskId };
  }
}

@Injectable()
export class Greeter {
  constructor(
    private readonly tasks: TasksService,
    private readonly collections: CollectionsService,
  ) {}

  /** Enqueues a greeting; a func with no handler is refused with a typed error. */
  async greet(who: string): Promise<TaskId | LaterzErrorCode> {
    await this.collections.upsert('greetings', { process: true });
    try {
      const handle = await this.tasks.enqueue('greet.say', { who }, { collection: 'greetings' });
      return handle.id;
    } catch (err) {
      if (err instanceof UnknownFunc) return err.code;
      if (err instanceof LaterzError) return err.code;
      throw err;
    }
  }
}

@Module({ imports: [TasksModule, CollectionsModule], providers: [GreetTasks, Greeter] })
export class GreetModule {}

export function isFinished(status: TaskStatus): boolean {
  return FINISHED_STATUSES.includes(status);
}

export async function start(): Promise<Running> {
  const running = await bootstrap(AppConfig.fromEnv(), { imports: [GreetModule] });
  await running.app.get(Greeter).greet('world');
  return running;
}

/** A user's test of the handlers above, on a server of theirs (a database of its own is made there). */
export async function testGreeting(serverUrl: string): Promise<IdleReport> {
  const testing = await LaterzTesting.create({ imports: [GreetModule], database: { url: serverUrl }, settings: { RETRY_TIERS: '0:3' } });
  try {
    await testing.app.get(Greeter).greet('world');
    const report = await testing.runUntilIdle({ maxRounds: 10 });
    if (report.waiting.some((t) => t.why === 'retry' && t.at !== undefined)) throw new Error('a retry waits');
    return report;
  } finally {
    await testing.close();
  }
}
