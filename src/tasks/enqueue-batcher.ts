/**
 * A flush's answer: one result or error per item, in order, and optionally `after`, work done once
 * the write is over (publishing what it queued) that the callers wait for but the next flush does not.
 */
export interface Flushed<Out> {
  results: (Out | Error)[];
  after?: Promise<unknown>;
}

/**
 * Coalesces concurrent calls into one write: the first call flushes at once (no added latency
 * when idle); calls that arrive while a flush is running wait and go together in the next one,
 * like a group commit. Each caller gets its own result or error. A flush's `after` work runs
 * beside the next flush: a write never waits for the publisher confirms of the one before it.
 */
export class Coalescer<In, Out> {
  private queue: { item: In; resolve: (v: Out) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly flush: (items: In[]) => Promise<(Out | Error)[] | Flushed<Out>>,
    private readonly maxBatch = 1000,
  ) {}

  add(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const answer = await this.flush(batch.map((b) => b.item));
        const { results, after } = Array.isArray(answer) ? { results: answer, after: undefined } : answer;
        const settle = () => batch.forEach((b, i) => (results[i] instanceof Error ? b.reject(results[i]) : b.resolve(results[i] as Out)));
        if (after) void after.then(settle, settle);
        else settle();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = false;
  }
}
