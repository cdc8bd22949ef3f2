import { AmqpTopology, CLASSIC_MAX_PRIORITY } from './topology.js';
import { PublishPriority } from '../broker.js';

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
    expect(classic().queueOptions()).toEqual({ durable: true, arguments: { 'x-max-priority': 19 } });
    expect(CLASSIC_MAX_PRIORITY).toBe(19);
    expect(classic().globalPrefetch).toBe(true);
  });

  it('orders a classic queue by task priority first, next tasks first among equals', () => {
    const topology = classic();
    const level = (priority: number, source: PublishPriority) => topology.messagePriority(priority, source);
    expect(level(0, PublishPriority.Dispatch)).toBe(0);
    expect(level(0, PublishPriority.Enqueue)).toBe(0);
    expect(level(0, PublishPriority.Next)).toBe(1);
    expect(level(1, PublishPriority.Dispatch)).toBe(2);
    expect(level(9, PublishPriority.Next)).toBe(CLASSIC_MAX_PRIORITY);
    // A next task never passes a task of a higher priority.
    for (let p = 0; p < 9; p++) expect(level(p, PublishPriority.Next)).toBeLessThan(level(p + 1, PublishPriority.Dispatch));
  });

  it('gives quorum queues the task priority itself, and refuses a priority outside 0-9', () => {
    const quorum = new AmqpTopology({ prefix: 'lz', queueType: 'quorum', deliveryLimit: 7 });
    expect(quorum.messagePriority(7, PublishPriority.Next)).toBe(7);
    expect(quorum.messagePriority(0, PublishPriority.Next)).toBe(0);
    for (const bad of [-1, 10, 1.5, Number.NaN, undefined as unknown as number]) {
      expect(() => classic().messagePriority(bad, PublishPriority.Dispatch)).toThrow(/task priority must be a whole number 0-9/);
    }
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
