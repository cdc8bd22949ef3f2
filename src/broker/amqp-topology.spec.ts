import { AmqpTopology } from './amqp-topology.js';
import { MAX_PRIORITY } from './broker.js';

describe('AmqpTopology', () => {
  const classic = () => new AmqpTopology({ prefix: 'lz', queueType: 'classic', deliveryLimit: 20 });

  it('names a queue per func within its group, the default group for an unknown func', () => {
    const topology = classic();
    topology.learnGroups([{ func: 'resize', queue: 'media' }]);
    expect(topology.queueName(topology.specFor('resize'))).toBe('lz.media.resize');
    expect(topology.queueName(topology.specFor('other'))).toBe('lz.default.other');
    expect(topology.hasGroup('other')).toBe(false);
  });

  it('declares classic queues with priorities by default', () => {
    expect(classic().queueOptions()).toEqual({ durable: true, arguments: { 'x-max-priority': MAX_PRIORITY } });
    expect(classic().globalPrefetch).toBe(true);
  });

  it('declares quorum queues with a delivery limit and a dead-letter exchange', () => {
    const topology = new AmqpTopology({ prefix: 'lz', queueType: 'quorum', deliveryLimit: 7 });
    expect(topology.queueOptions()).toEqual({
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 7, 'x-dead-letter-exchange': 'lz.dead' },
    });
    expect(topology.deadLetterName).toBe('lz.dead');
    expect(topology.globalPrefetch).toBe(false);
  });

  it('reports each spec as fresh once', () => {
    const topology = classic();
    const spec = { func: 'f', queue: 'q' };
    expect(topology.markDeclared([spec, spec])).toEqual([spec]);
    expect(topology.markDeclared([spec])).toEqual([]);
    expect(topology.declaredSpec('lz.q.f')).toEqual(spec);
  });

  it('refuses a queue name longer than AMQP allows', () => {
    expect(() => classic().learnGroups([{ func: 'f'.repeat(260), queue: 'q' }])).toThrow(RangeError);
  });
});
