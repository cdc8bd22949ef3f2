import { Injectable } from '@nestjs/common';
import type { TaskContext } from '../../src/tasks/task-context.js';
import { TaskHandler } from '../../src/tasks/task-handler.decorator.js';
import { TaskStatus } from '../../src/tasks/task-status.js';
import { TaskBroken, TaskNotFound } from '../../src/tasks/tasks.errors.js';
import { type TaskState, TasksService } from '../../src/tasks/tasks.service.js';
import { waitFor } from '../helpers/databases.js';
import { startTestApp, TestApp } from '../helpers/test-app.js';

@Injectable()
class GetHandlers {
  @TaskHandler('get.double')
  double(args: { n: number }) {
    return { doubled: args.n * 2 };
  }

  @TaskHandler('get.sum')
  sum(_args: { n: number }, deps: { a: { doubled: number }; b: { doubled: number } }) {
    return deps.a.doubled + deps.b.doubled;
  }

  @TaskHandler('get.breaks')
  breaks(args: { why: string }, _deps: unknown, _ctx: TaskContext) {
    throw new TaskBroken('no_way', args.why);
  }
}

describe('TasksService.get: a task’s status and outcome', () => {
  let app: TestApp;
  let tasks: TasksService;
  const finished = (id: string) =>
    waitFor(async () => {
      const state = await tasks.get(id);
      return state.dateFinished !== null && [TaskStatus.Success, TaskStatus.Broken].includes(state.status) ? state : undefined;
    }, `task ${id} to finish`);

  beforeAll(async () => {
    app = await startTestApp({ handlers: [GetHandlers] });
    tasks = app.get(TasksService);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('reads a task not run yet: its status, no result', async () => {
    const handle = await tasks.enqueue('get.double', { n: 0 }, { queueNow: false, runAfter: new Date(Date.now() + 3_600_000) });
    expect(await tasks.get(handle.id)).toEqual<TaskState>({
      id: handle.id,
      collection: 'default',
      func: 'get.double',
      status: handle.status,
      version: expect.any(Number) as number,
      result: null,
      error: '',
      brokenReason: '',
      failCount: 0,
      dateFinished: null,
    });
  });

  it('reads the result of the last task of a DAG once it ran', async () => {
    const a = await tasks.enqueue('get.double', { n: 2 });
    const b = await tasks.enqueue('get.double', { n: 3 });
    const sum = await tasks.enqueue('get.sum', { n: 5 }, { dependsOn: { a, b } });
    const state = await finished(sum.id);
    expect(state).toMatchObject({ id: sum.id, func: 'get.sum', status: TaskStatus.Success, result: 10, error: '', brokenReason: '' });
    expect(state.dateFinished).toBeInstanceOf(Date);
    expect((await tasks.get(a.id)).result).toEqual({ doubled: 4 });
  });

  it('reads a broken task: its reason and message, no result', async () => {
    const handle = await tasks.enqueue('get.breaks', { why: 'the input is wrong' });
    expect(await finished(handle.id)).toMatchObject({ status: TaskStatus.Broken, brokenReason: 'no_way', error: 'the input is wrong', result: null });
  });

  it('throws TaskNotFound for an id no task has', async () => {
    await expect(tasks.get('987654321')).rejects.toBeInstanceOf(TaskNotFound);
  });
});
