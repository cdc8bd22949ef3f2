import { Injectable, Module } from '@nestjs/common';
import { TaskHandler } from 'laterz';

/** Three funcs of a DAG: each one's result reaches the next under the name of their edge. */
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
