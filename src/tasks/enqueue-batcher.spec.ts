import { Coalescer } from './enqueue-batcher.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A flush that records its batches and can be held open until released. */
function recorder<In, Out>(answer: (items: In[]) => (Out | Error)[] | Promise<(Out | Error)[]>) {
  const batches: In[][] = [];
  let gate: Deferred<void> | undefined;
  const started: Deferred<void>[] = [];
  const flush = async (items: In[]) => {
    batches.push(items);
    started.shift()?.resolve();
    if (gate) await gate.promise;
    return answer(items);
  };
  return {
    batches,
    flush,
    /** Holds every flush open until `release()`. */
    hold() {
      gate = deferred();
    },
    release() {
      gate?.resolve();
      gate = undefined;
    },
    /** Resolves when the next flush starts. */
    nextFlush() {
      const d = deferred();
      started.push(d);
      return d.promise;
    },
  };
}

describe('Coalescer', () => {
  it('flushes a lone call by itself', async () => {
    const r = recorder((items: number[]) => items.map((n) => n * 10));
    const c = new Coalescer(r.flush);
    await expect(c.add(1)).resolves.toBe(10);
    expect(r.batches).toEqual([[1]]);
  });

  it('writes concurrent calls in one flush, each caller getting its own result', async () => {
    const r = recorder((items: number[]) => items.map((n) => n * 10));
    const c = new Coalescer(r.flush);
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => c.add(n)));
    expect(results).toEqual([10, 20, 30, 40, 50]);
    expect(r.batches).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('gathers calls made during a flush into the next one, like a group commit', async () => {
    const r = recorder((items: string[]) => items.map((s) => s.toUpperCase()));
    const c = new Coalescer(r.flush);
    r.hold();
    const first = r.nextFlush();
    const a = c.add('a');
    await first;
    // The first flush is open: these three wait and go together.
    const later = ['b', 'c', 'd'].map((s) => c.add(s));
    const second = r.nextFlush();
    r.release();
    await expect(a).resolves.toBe('A');
    await second;
    await expect(Promise.all(later)).resolves.toEqual(['B', 'C', 'D']);
    expect(r.batches).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('splits a crowd into batches of at most maxBatch, in arrival order', async () => {
    const r = recorder((items: number[]) => items);
    const c = new Coalescer(r.flush, 2);
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => c.add(n)));
    expect(results).toEqual([1, 2, 3, 4, 5]);
    expect(r.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails only the callers whose item came back as an error', async () => {
    const r = recorder((items: number[]) => items.map((n) => (n % 2 === 0 ? new RangeError(`even: ${n}`) : n)));
    const c = new Coalescer(r.flush);
    const settled = await Promise.allSettled([1, 2, 3, 4].map((n) => c.add(n)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect((settled[1] as PromiseRejectedResult).reason).toEqual(new RangeError('even: 2'));
    expect((settled[3] as PromiseRejectedResult).reason).toEqual(new RangeError('even: 4'));
    expect((settled[2] as PromiseFulfilledResult<number>).value).toBe(3);
    expect(r.batches).toHaveLength(1);
  });

  it('fails the whole batch when the flush throws, and keeps working afterwards', async () => {
    let fail = true;
    const boom = new Error('connection reset');
    const r = recorder((items: number[]) => {
      if (fail) throw boom;
      return items;
    });
    const c = new Coalescer(r.flush);
    const settled = await Promise.allSettled([1, 2, 3].map((n) => c.add(n)));
    expect(settled.every((s) => s.status === 'rejected' && s.reason === boom)).toBe(true);
    fail = false;
    await expect(Promise.all([c.add(7), c.add(8)])).resolves.toEqual([7, 8]);
    expect(r.batches).toEqual([[1, 2, 3], [7, 8]]);
  });

  it('a failing batch does not fail the batch queued behind it', async () => {
    const r = recorder((items: number[]) => {
      if (items.includes(1)) throw new Error('first batch fails');
      return items;
    });
    const c = new Coalescer(r.flush);
    r.hold();
    const first = r.nextFlush();
    const a = c.add(1);
    await first;
    const b = c.add(2);
    r.release();
    await expect(a).rejects.toThrow('first batch fails');
    await expect(b).resolves.toBe(2);
  });

  it('starts the next flush while the last one is still publishing; callers wait for their own after', async () => {
    const publishing = deferred();
    const batches: number[][] = [];
    const c = new Coalescer(async (items: number[]) => {
      batches.push(items);
      return { results: items.map((n) => n * 10), after: items.includes(1) ? publishing.promise : undefined };
    });
    let firstSettled = false;
    const first = c.add(1).then((v) => ((firstSettled = true), v));
    await new Promise((resolve) => setImmediate(resolve));
    // The first write is done and its publish is open: the second call is written and answered meanwhile.
    await expect(c.add(2)).resolves.toBe(20);
    expect(batches).toEqual([[1], [2]]);
    expect(firstSettled).toBe(false);
    publishing.resolve();
    await expect(first).resolves.toBe(10);
  });

  it('answers the callers when their after work fails (publishing never fails a write)', async () => {
    const c = new Coalescer(async (items: number[]) => ({ results: items, after: Promise.reject(new Error('confirm lost')) }));
    await expect(c.add(3)).resolves.toBe(3);
  });
});
