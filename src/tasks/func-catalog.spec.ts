import type { Broker } from '../broker/broker.js';
import type { AppConfig } from '../config/app-config.js';
import { FuncCatalog } from './func-catalog.js';
import type { FuncGateway, RecordedFunc } from './func.gateway.js';
import type { TaskRegistry } from './task-registry.js';

/** A producer-only process (no handlers, no worker role): every func it names is the database's. */
function producerCatalog(gateway: Pick<FuncGateway, 'readAll'>): FuncCatalog {
  const registry = { all: () => [], size: 0, version: () => undefined } as unknown as TaskRegistry;
  const config = { has: () => false, worker: { queues: [] }, funcHeartbeatMs: 15_000 } as unknown as AppConfig;
  const broker = { registerQueues: () => undefined } as unknown as Broker;
  return new FuncCatalog(registry, gateway as FuncGateway, config, broker);
}

const remote: RecordedFunc = { name: 'p.remote', version: 1, queue: 'remote', bulk: false, priority: 3, options: {}, servers: [] };

describe('FuncCatalog.resolve', () => {
  it('answers every caller that asks for a name while the read it started is in flight, not only the first', async () => {
    let recorded: RecordedFunc[] = [];
    let reads = 0;
    const catalog = producerCatalog({ readAll: async () => (reads++, recorded) });
    await catalog.start(); // at boot the database knows nothing yet
    recorded = [remote]; // a worker records p.remote afterwards

    const [first, second] = await Promise.all([catalog.resolve('p.remote'), catalog.resolve('p.remote')]);

    expect(first).toMatchObject({ name: 'p.remote', queue: 'remote' });
    expect(second).toMatchObject({ name: 'p.remote', queue: 'remote' });
    expect(reads).toBe(2); // the boot's read and one for the miss
  });

  it('reads a name found nowhere again at most once a second', async () => {
    let reads = 0;
    const catalog = producerCatalog({ readAll: async () => (reads++, []) });
    await catalog.start();

    expect(await catalog.resolve('nowhere')).toBeUndefined();
    expect(await catalog.resolve('nowhere')).toBeUndefined();
    expect(reads).toBe(2);
  });
});
