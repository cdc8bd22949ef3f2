/** Milliseconds left until `deadline`, at least 1. */
export function remainingMs(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

/** `work`, or a rejection naming `what` once `ms` have passed. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
