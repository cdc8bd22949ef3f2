import type { RecordedFunc } from './func.gateway.js';
import { claimableFuncs, LocalFunc, mergeCatalog, newerLiveVersion, ThisServer } from './func-decisions.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:00:15Z');

function local(over: Partial<LocalFunc> = {}): LocalFunc {
  return { name: 'f', version: 1, queue: 'default', bulk: false, priority: 0, logArgs: false, ...over };
}
function recorded(over: Partial<RecordedFunc> = {}): RecordedFunc {
  return { name: 'f', version: 1, queue: 'default', bulk: false, priority: 0, options: {}, servers: [], ...over };
}
const me = (serves: string[] = [], seenAt: Date | null = T1): ThisServer => ({ server: 'here:1:aa', serves: new Set(serves), seenAt });

describe('mergeCatalog', () => {
  it('knows a func this process has a handler for and the database has not recorded: its own version, not served before its beat', () => {
    const catalog = mergeCatalog([local({ version: 3, queue: 'q', resyncMs: 600_000 })], [], me(['f'], null));
    expect(catalog.get('f')).toEqual({ name: 'f', version: 3, queue: 'q', bulk: false, priority: 0, resyncMs: 600_000, logArgs: false, servers: [], served: false, local: true });
  });

  it('counts this process among the live servers once it has beaten (its own read does not see its write)', () => {
    const catalog = mergeCatalog([local({ version: 2 })], [recorded({ version: 1, servers: [{ server: 'here:1:aa', version: 2, lastSeen: T0 }] })], me(['f']));
    expect(catalog.get('f')).toMatchObject({ version: 2, served: true, servers: [{ server: 'here:1:aa', version: 2, lastSeen: T1 }] });
  });

  it('does not count this process for a func it has code for but does not serve (WORKER_QUEUES, or no worker role)', () => {
    const catalog = mergeCatalog([local()], [], me([]));
    expect(catalog.get('f')).toMatchObject({ served: false, servers: [] });
  });

  it('knows a func only the database has, with its recorded options: enqueue needs no handler for it', () => {
    const catalog = mergeCatalog(
      [],
      [recorded({ name: 'remote', version: 4, queue: 'far', bulk: true, priority: 7, options: { resyncMs: 1000, logArgs: true }, servers: [{ server: 'w:2:bb', version: 4, lastSeen: T0 }] })],
      me(),
    );
    expect(catalog.get('remote')).toEqual({
      name: 'remote', version: 4, queue: 'far', bulk: true, priority: 7, resyncMs: 1000, logArgs: true,
      servers: [{ server: 'w:2:bb', version: 4, lastSeen: T0 }], served: true, local: false,
    });
  });

  it('says a recorded func with no live server is not served, at its last recorded version', () => {
    expect(mergeCatalog([], [recorded({ version: 5 })], me()).get('f')).toMatchObject({ version: 5, served: false, servers: [] });
  });

  it('takes the highest live version as current, and that version options, over this process older code', () => {
    const catalog = mergeCatalog(
      [local({ version: 1, queue: 'old', priority: 1 })],
      [recorded({ version: 2, queue: 'new', priority: 5, servers: [{ server: 'w:2:bb', version: 2, lastSeen: T0 }] })],
      me(['f']),
    );
    expect(catalog.get('f')).toMatchObject({ version: 2, queue: 'new', priority: 5, served: true });
    expect(catalog.get('f')!.servers.map((s) => [s.server, s.version])).toEqual([
      ['here:1:aa', 1],
      ['w:2:bb', 2],
    ]);
  });

  it('takes this process version and options once the newer server is gone (a rollback)', () => {
    const catalog = mergeCatalog([local({ version: 1, queue: 'old' })], [recorded({ version: 2, queue: 'new', servers: [] })], me(['f']));
    expect(catalog.get('f')).toMatchObject({ version: 1, queue: 'old', served: true });
  });
});

describe('newerLiveVersion and claimableFuncs', () => {
  const catalogWith = (servers: [string, number][]) =>
    mergeCatalog([local({ version: 1 }), local({ name: 'g', version: 0 })], [recorded({ version: 1, servers: servers.map(([server, version]) => ({ server, version, lastSeen: T0 })) })], me(['f', 'g']));

  it('claims every served func while no live server runs a newer version', () => {
    const { claimable, superseded } = claimableFuncs([local({ version: 1 }), local({ name: 'g', version: 0 })], catalogWith([['w:2:bb', 1]]));
    expect(claimable.map((f) => f.name)).toEqual(['f', 'g']);
    expect(superseded.size).toBe(0);
  });

  it('stops claiming a func a live server runs at a newer version, and says which version', () => {
    const catalog = catalogWith([
      ['w:2:bb', 2],
      ['w:3:cc', 3],
    ]);
    expect(newerLiveVersion(1, catalog.get('f'))).toBe(3);
    const { claimable, superseded } = claimableFuncs([local({ version: 1 }), local({ name: 'g', version: 0 })], catalog);
    expect(claimable.map((f) => f.name)).toEqual(['g']);
    expect([...superseded]).toEqual([['f', 3]]);
  });

  it('claims it at the newest live version, beside an older server', () => {
    const { claimable } = claimableFuncs([local({ version: 3 })], catalogWith([['w:2:bb', 2]]));
    expect(claimable.map((f) => f.name)).toEqual(['f']);
  });

  it('claims it again once no newer server is live, whatever version was recorded last', () => {
    const catalog = mergeCatalog([local({ version: 1 })], [recorded({ version: 2, servers: [] })], me(['f']));
    expect(newerLiveVersion(1, catalog.get('f'))).toBeUndefined();
    expect(claimableFuncs([local({ version: 1 })], catalog).claimable).toHaveLength(1);
  });
});
