import { LogBuffer } from '../run/run-context.js';
import { LiveTaskLogs } from './live-task-logs.js';

/** Every write the flusher asks for; `land` decides which ids the guarded statement changes. */
function recorder(land: (id: string) => boolean = () => true) {
  const writes: { ids: string[]; attempts: number[]; logs: string[] }[] = [];
  const write = async (ids: string[], attempts: number[], logs: string[]) => {
    writes.push({ ids, attempts, logs });
    return ids.filter(land);
  };
  return { writes, write };
}

describe('LiveTaskLogs', () => {
  let live: LiveTaskLogs;
  afterEach(() => live.stop());

  it('writes every log that grew since its last write in one call, and nothing when none did', async () => {
    const { writes, write } = recorder();
    live = new LiveTaskLogs(write, () => undefined, 3_600_000);
    const a = new LogBuffer(1024, () => live.wrote({ id: '1', attempt: 2 }, a));
    const b = new LogBuffer(1024, () => live.wrote({ id: '2', attempt: 1 }, b));
    new LogBuffer(1024).info('a task that is not watched');
    expect(await live.flush()).toBe(0);

    a.info('one');
    b.info('two');
    expect(await live.flush()).toBe(2);
    expect(writes).toHaveLength(1);
    expect(writes[0].ids).toEqual(['1', '2']);
    expect(writes[0].attempts).toEqual([2, 1]);
    expect(writes[0].logs.map((l) => l.replace(/^\S+ /, ''))).toEqual(['[info] one', '[info] two']);

    expect(await live.flush()).toBe(0);
    expect(writes).toHaveLength(1);
    b.warn('more');
    await live.flush();
    expect(writes[1].ids).toEqual(['2']);
    expect(writes[1].logs[0]).toContain('[warn] more');
  });

  it('tries a log again while its row was not written (locked, say), and never after its finish', async () => {
    let landing = false;
    const { writes, write } = recorder(() => landing);
    live = new LiveTaskLogs(write, () => undefined, 3_600_000);
    const task = { id: '7', attempt: 1 };
    const log = new LogBuffer(1024, () => live.wrote(task, log));
    log.info('x');
    expect(await live.flush()).toBe(0);
    landing = true;
    expect(await live.flush()).toBe(1);
    log.info('y');
    live.forget([task.id]);
    expect(await live.flush()).toBe(0);
    expect(writes.map((w) => w.ids)).toEqual([['7'], ['7']]);
  });

  it('reports a failing write once until one succeeds again', async () => {
    let down = true;
    const errors: string[] = [];
    live = new LiveTaskLogs(
      async (ids) => {
        if (down) throw new Error('connection terminated');
        return ids;
      },
      (err) => errors.push(err.message),
      3_600_000,
    );
    const log = new LogBuffer(1024, () => live.wrote({ id: '1', attempt: 1 }, log));
    log.info('x');
    await live.flush();
    await live.flush();
    expect(errors).toEqual(['connection terminated']);
    down = false;
    expect(await live.flush()).toBe(1);
    down = true;
    log.info('y');
    await live.flush();
    expect(errors).toHaveLength(2);
  });
});
