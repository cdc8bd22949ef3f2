import { Injectable, Module } from '@nestjs/common';
import { type CallerTransaction, type TaskHandle, TaskHandler, TasksService } from 'laterz';

/** Three funcs of a DAG: each parent's result reaches its child under the name of their edge. */
@Injectable()
export class HelloTasks {
  @TaskHandler('hello.name')
  name(args: { who: string }): string {
    return args.who.charAt(0).toUpperCase() + args.who.slice(1);
  }

  @TaskHandler('hello.greet')
  greet(_args: { who: string }, deps: { name: string }): string {
    return `Hello, ${deps.name}!`;
  }

  @TaskHandler('hello.card')
  card(_args: { who: string }, deps: { name: string; greeting: string }): string {
    return `${deps.greeting} Your name has ${deps.name.length} letters.`;
  }
}

@Module({ providers: [HelloTasks] })
export class HelloTasksModule {}

/** Enqueues the DAG name → greet → card (card also gets name), in `tx` when given; resolves with its last task. */
export async function enqueueHello(tasks: TasksService, who: string, tx?: CallerTransaction): Promise<TaskHandle> {
  const name = await tasks.enqueue('hello.name', { who }, { tx });
  const greeting = await tasks.enqueue('hello.greet', { who }, { tx, dependsOn: { name } });
  return tasks.enqueue('hello.card', { who }, { tx, dependsOn: { name, greeting } });
}
