import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { type TaskState, TaskStatus, TasksService } from 'laterz';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module.js';
import { Greeting } from './greeting.entity.js';
import { enqueueHello } from './hello.tasks.js';

const who = process.argv[2] ?? 'world';
const waitSeconds = Number(process.env.HELLO_DAG_WAIT_SECONDS ?? 60);

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
try {
  const tasks = app.get(TasksService);
  // The DAG and the app's own row in one transaction of the app's DataSource: both commit, or neither.
  const card = await app.get(DataSource).transaction(async (tx) => {
    const last = await enqueueHello(tasks, who, tx);
    await tx.insert(Greeting, { who, taskId: last.id });
    return last;
  });
  const done = await finished(tasks, card.id);
  console.log(done.result);
} catch (err) {
  console.error(`hello-dag failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await app.close();
}

/** Polls the task until it succeeds; throws when it is broken or still not done after waitSeconds. */
async function finished(tasks: TasksService, id: string): Promise<TaskState> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const state = await tasks.get(id);
    if (state.status === TaskStatus.Success) return state;
    if (state.status === TaskStatus.Broken) throw new Error(`task ${id} (${state.func}) is broken: ${state.brokenReason}: ${state.error}`);
    if (Date.now() > deadline) throw new Error(`task ${id} (${state.func}) is still ${state.status} after ${waitSeconds} s${state.error ? `: ${state.error}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
