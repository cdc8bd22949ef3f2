import type { EnqueueOptions, EnqueueRequest, TaskHandle } from '../../tasks/enqueue-request.js';
import type { TaskId } from '../../tasks/task-status.js';
import type { TaskState } from '../../tasks/tasks.service.js';
import type { WorkerCall } from './isolate-protocol.js';

/**
 * TasksService inside an isolate: enqueue, enqueueMany and get, each answered by the worker (its
 * engine pool, its broker). What needs the worker's own connection (`tx`, a caller's transaction)
 * or is an operator's action is refused by name.
 */
export class IsolatedTasks {
  constructor(private readonly callWorker: (method: WorkerCall, args: unknown[]) => Promise<unknown>) {}

  enqueue(func: string, args: unknown, options: EnqueueOptions = {}, manager?: unknown): Promise<TaskHandle> {
    if ((options as { tx?: unknown }).tx !== undefined || manager !== undefined) return Promise.reject(noTransaction());
    return this.callWorker('enqueue', [func, args, options]) as Promise<TaskHandle>;
  }

  enqueueMany(requests: EnqueueRequest[], options: unknown = {}): Promise<TaskHandle[]> {
    const plain = typeof options === 'object' && options !== null && Object.getPrototypeOf(options) === Object.prototype;
    if (!plain || (options as { tx?: unknown }).tx !== undefined) return Promise.reject(noTransaction());
    return this.callWorker('enqueueMany', [requests]) as Promise<TaskHandle[]>;
  }

  get(id: TaskId): Promise<TaskState> {
    return this.callWorker('get', [id]) as Promise<TaskState>;
  }

  /** This object, refusing by name any other TasksService method a provider calls. */
  static refusingOthers(tasks: IsolatedTasks, methods: readonly string[]): IsolatedTasks {
    return new Proxy(tasks, {
      get(target, key, receiver) {
        if (typeof key === 'string' && !(key in target) && methods.includes(key)) {
          return () => {
            throw new TypeError(`TasksService.${key} is not available in an isolated handler (enqueue, enqueueMany and get are): run it where laterz runs inline`);
          };
        }
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
  }
}

function noTransaction(): TypeError {
  return new TypeError('an enqueue in an isolated handler cannot join a transaction (tx): its connection lives in the worker');
}
