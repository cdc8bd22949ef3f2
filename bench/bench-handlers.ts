import { Injectable, Module } from '@nestjs/common';
import { TaskHandler } from '../src/tasks/task-handler.decorator.js';
import { reportStarted } from './lib/ipc.js';

/** The funcs the bench enqueues: every one does (almost) nothing, so the engine is what is measured. */
export const BENCH_FUNCS = {
  noop: 'bench.noop',
  latency: 'bench.latency',
  dagA: 'bench.dag.a',
  dagB: 'bench.dag.b',
  dagC: 'bench.dag.c',
  dagD: 'bench.dag.d',
} as const;

interface Value {
  n: number;
}

@Injectable()
export class BenchHandlers {
  @TaskHandler(BENCH_FUNCS.noop)
  noop(): null {
    return null;
  }

  @TaskHandler(BENCH_FUNCS.latency)
  latency(args: { t0: number }): null {
    reportStarted(args.t0);
    return null;
  }

  // One diamond a → (b, c) → d; d's result, 5 × i, shows each result reached its child.
  @TaskHandler(BENCH_FUNCS.dagA)
  dagA(args: { i: number }): Value {
    return { n: args.i };
  }

  @TaskHandler(BENCH_FUNCS.dagB)
  dagB(_args: unknown, deps: { a: Value }): Value {
    return { n: deps.a.n * 2 };
  }

  @TaskHandler(BENCH_FUNCS.dagC)
  dagC(_args: unknown, deps: { a: Value }): Value {
    return { n: deps.a.n * 3 };
  }

  @TaskHandler(BENCH_FUNCS.dagD)
  dagD(_args: unknown, deps: { b: Value; c: Value }): Value {
    return { n: deps.b.n + deps.c.n };
  }
}

/** Imported into every laterz process the bench starts (workers, and the enqueuing app). */
@Module({ providers: [BenchHandlers] })
export class BenchHandlersModule {}
