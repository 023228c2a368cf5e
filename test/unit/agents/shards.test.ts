/**
 * How a certificate's delivery is split (shared/agents/shards.ts) and what a shard message
 * may say (shared/agents/delivery-message.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseDeliveryMessage, shardDeliveryMessage } from '../../../shared/agents/delivery-message.js';
import { MAX_SHARDS, shardCount, shardOf } from '../../../shared/agents/shards.js';

const names = Array.from({ length: 5000 }, (_, i) => `agent-${i}`);

describe('shards', () => {
  it('puts every agent in exactly one shard, the same one every time', () => {
    for (const count of [1, 2, 7, 10]) {
      const seen = names.map((n) => shardOf(n, count));
      expect(seen.every((s) => Number.isInteger(s) && s >= 0 && s < count)).toBe(true);
      expect(names.map((n) => shardOf(n, count))).toEqual(seen);
    }
  });

  it('spreads agents evenly enough that no shard is far over its size', () => {
    const count = shardCount(names.length, 1000);
    expect(count).toBe(5);
    const sizes = Array.from(
      { length: count },
      (_, i) => names.filter((n) => shardOf(n, count) === i).length,
    );
    expect(Math.min(...sizes)).toBeGreaterThan(850);
    expect(Math.max(...sizes)).toBeLessThan(1150);
  });

  it('asks for one shard up to the size, then one per size started, never more than the cap', () => {
    expect(shardCount(0, 1000)).toBe(1);
    expect(shardCount(1000, 1000)).toBe(1);
    expect(shardCount(1001, 1000)).toBe(2);
    expect(shardCount(10_000, 1000)).toBe(10);
    expect(shardCount(10_000_000, 1)).toBe(MAX_SHARDS);
  });
});

describe('shard messages', () => {
  it('reads back what the deliver function writes', () => {
    expect(parseDeliveryMessage(shardDeliveryMessage('edge', { index: 2, count: 3 }))).toEqual({
      kind: 'certificate',
      certificate: 'edge',
      shard: { index: 2, count: 3 },
    });
  });

  it.each([
    [{ certificate: 'edge', shard: { index: 3, count: 3 } }, /deliver\.shard: index must be below count/],
    [{ certificate: 'edge', shard: { index: -1, count: 3 } }, /deliver\.shard\.index/],
    [{ certificate: 'edge', shard: { index: 0, count: MAX_SHARDS + 1 } }, /deliver\.shard\.count/],
    [{ certificate: 'Not A Name', shard: { index: 0, count: 1 } }, /deliver\.certificate/],
    [{ certificate: 'edge' }, /deliver\.shard/],
    [{ certificate: 'edge', shard: { index: 0, count: 1 }, extra: 1 }, /deliver/],
    ['edge', /deliver/],
  ])('ignores %j, saying why', (deliver, why) => {
    const message = parseDeliveryMessage(JSON.stringify({ deliver }));
    expect(message.kind).toBe('ignored');
    expect(message.kind === 'ignored' && message.reason).toMatch(why);
  });

  it('still reads an agent request, and refuses one that names no agent', () => {
    expect(parseDeliveryMessage(JSON.stringify({ deliver: { agent: 'web-7' } }))).toEqual({
      kind: 'agent',
      agent: 'web-7',
    });
    expect(parseDeliveryMessage(JSON.stringify({ deliver: { agent: '../x' } }))).toEqual({
      kind: 'ignored',
      reason: 'deliver.agent is not an agent name',
    });
  });
});
