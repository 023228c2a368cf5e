import { describe, expect, it } from 'vitest';
import { groupByRecord, Dns01Solver } from '../../../shared/challenges/dns01/solver.js';
import type { DnsProvider, DnsZone } from '../../../shared/challenges/dns01/provider.js';
import { quoteTxt, unquoteTxt } from '../../../shared/challenges/dns01/route53.js';
import type { TxtResolver } from '../../../shared/dns/resolver.js';
import type { Challenge } from '../../../shared/challenges/solver.js';
import { ManualClock } from '../../../shared/model/clock.js';
import { CertkeeperError, ValidationError } from '../../../shared/model/errors.js';
import { parseIdentifier } from '../../../shared/model/identifiers.js';

const dns01 = (name: string, value: string): Challenge => ({
  type: 'dns-01',
  identifier: parseIdentifier(name),
  token: 'tok'.padEnd(20, 'x'),
  value,
});
const APEX = dns01('example.test', 'apexValue_1');
const WILD = dns01('*.example.test', 'wildValue-2');
const WWW = dns01('www.example.test', 'wwwValue');

/** An in-memory zone: record name → values, with a switch to fail deletes. */
class FakeProvider implements DnsProvider {
  readonly records = new Map<string, string[]>();
  readonly changes: string[] = [];
  failDeletes = false;
  private next = 0;
  async findZone(): Promise<DnsZone> {
    return { id: 'Z1', name: 'example.test' };
  }
  async getZone(id: string): Promise<DnsZone> {
    return { id, name: 'example.test' };
  }
  async nameServers(): Promise<string[]> {
    return ['ns1.example.test'];
  }
  async upsertTxt(_zone: DnsZone, fqdn: string, values: readonly string[]) {
    const current = this.records.get(fqdn) ?? [];
    this.records.set(fqdn, [...current, ...values.filter((v) => !current.includes(v))]);
    this.changes.push(`upsert ${fqdn} ${values.join(',')}`);
    return `C${++this.next}`;
  }
  async deleteTxt(_zone: DnsZone, fqdn: string, values: readonly string[]) {
    if (this.failDeletes) throw new Error('Route53 is down');
    const left = (this.records.get(fqdn) ?? []).filter((v) => !values.includes(v));
    if (left.length) this.records.set(fqdn, left);
    else this.records.delete(fqdn);
    return undefined;
  }
  async waitForChange(id: string) {
    this.changes.push(`wait ${id}`);
  }
}

const resolverOver = (provider: FakeProvider): TxtResolver => ({
  servers: ['fake'],
  resolveTxt: async (fqdn) => (provider.records.get(fqdn) ?? []).map((v) => [v]),
});

describe('groupByRecord', () => {
  it('puts the apex and its wildcard at one record name with both values', () => {
    expect(groupByRecord([APEX, WILD, WWW])).toEqual([
      { name: '_acme-challenge.example.test', values: ['apexValue_1', 'wildValue-2'] },
      { name: '_acme-challenge.www.example.test', values: ['wwwValue'] },
    ]);
  });

  it('refuses IP identifiers, other challenge types and values that are not base64url', () => {
    const ip: Challenge = { ...APEX, identifier: parseIdentifier('192.0.2.1') };
    expect(() => groupByRecord([ip])).toThrow(ValidationError);
    expect(() => groupByRecord([{ ...APEX, type: 'http-01' }])).toThrow(ValidationError);
    expect(() => groupByRecord([{ ...APEX, value: 'a" "b' }])).toThrow(ValidationError);
  });
});

describe('TXT quoting', () => {
  it('quotes and escapes, and joins split strings back', () => {
    expect(quoteTxt('abc')).toBe('"abc"');
    expect(quoteTxt('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(unquoteTxt(quoteTxt('a"b\\c'))).toBe('a"b\\c');
    expect(unquoteTxt('"part1" "part2"')).toBe('part1part2');
    expect(unquoteTxt('bare')).toBe('bare');
  });
});

describe('Dns01Solver', () => {
  it('reports a failed record only once every other write has landed, so cleanup takes them all', async () => {
    // One record's write fails at once while another is still in flight at Route53.
    class SlowAndFailing extends FakeProvider {
      override async upsertTxt(zone: DnsZone, fqdn: string, values: readonly string[]) {
        if (fqdn.startsWith('_acme-challenge.www.')) throw new Error('Route53 refused the change');
        await new Promise((resolve) => setTimeout(resolve, 50));
        return super.upsertTxt(zone, fqdn, values);
      }
    }
    const provider = new SlowAndFailing();
    const solver = new Dns01Solver({ provider, resolverFor: async () => resolverOver(provider) });
    await expect(solver.present([APEX, WWW])).rejects.toThrow('Route53 refused the change');
    // The slow write had landed by the time present failed; cleanup removes it.
    expect([...provider.records.keys()]).toEqual(['_acme-challenge.example.test']);
    await solver.cleanup([APEX, WWW]);
    expect(provider.records.size).toBe(0);
  });

  it('writes each record name once, waits for its change, then for the values to be served', async () => {
    const provider = new FakeProvider();
    const solver = new Dns01Solver({ provider, resolverFor: async () => resolverOver(provider) });
    await solver.present([APEX, WILD]);
    expect(provider.records.get('_acme-challenge.example.test')).toEqual(['apexValue_1', 'wildValue-2']);
    await solver.waitReady([APEX, WILD]);
    expect(provider.changes).toEqual([
      'upsert _acme-challenge.example.test apexValue_1,wildValue-2',
      'wait C1',
    ]);
  });

  it('times out the propagation check with a retryable error naming the record and servers', async () => {
    const provider = new FakeProvider();
    const clock = new ManualClock('2026-05-01T00:00:00Z');
    const solver = new Dns01Solver({
      provider,
      resolverFor: async () => ({ servers: ['192.0.2.53'], resolveTxt: async () => [['someone else']] }),
      clock,
      sleep: async (ms) => clock.advance(ms),
      propagationTimeoutMs: 10_000,
      pollIntervalMs: 1_000,
    });
    await solver.present([APEX]);
    const err = await solver.waitReady([APEX]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as CertkeeperError).retryable).toBe(true);
    expect((err as Error).message).toContain('_acme-challenge.example.test on 192.0.2.53');
    expect(clock.now().toISOString()).toBe('2026-05-01T00:00:10.000Z');
  });

  it('removes only its own values and collects cleanup errors instead of throwing', async () => {
    const provider = new FakeProvider();
    provider.records.set('_acme-challenge.example.test', ['other-cert']);
    const solver = new Dns01Solver({ provider });
    await solver.present([APEX, WILD]);
    await solver.cleanup([APEX]);
    expect(provider.records.get('_acme-challenge.example.test')).toEqual(['other-cert', 'wildValue-2']);

    provider.failDeletes = true;
    await expect(solver.cleanup([WILD])).resolves.toBeUndefined();
    expect(solver.lastCleanupErrors.map((e) => e.message)).toEqual(['Route53 is down']);
    provider.failDeletes = false;
    await solver.cleanup([WILD]);
    await solver.cleanup([WILD]);
    expect(solver.lastCleanupErrors).toEqual([]);
    expect(provider.records.get('_acme-challenge.example.test')).toEqual(['other-cert']);
  });

  it('uses the explicit hosted zone when the spec names one', async () => {
    const provider = new FakeProvider();
    const zones: string[] = [];
    provider.getZone = async (id) => (zones.push(id), { id, name: 'example.test' });
    await new Dns01Solver({ provider }).withHostedZone('ZEXPLICIT').present([WWW]);
    expect(zones).toEqual(['ZEXPLICIT']);
  });
});

describe('Dns01Solver: CNAME delegation', () => {
  const cnames = (map: Record<string, string>) => ({
    servers: ['stub'],
    resolveCname: async (fqdn: string) => map[fqdn],
  });
  const TARGET = '_acme-challenge.example-test.delegate.test';

  it('writes, waits for and removes the values at the end of the CNAME chain', async () => {
    const provider = new FakeProvider();
    const asked: string[] = [];
    const chain = cnames({
      '_acme-challenge.example.test': 'hop.delegate.test',
      'hop.delegate.test': TARGET,
    });
    const solver = new Dns01Solver({
      provider,
      resolverFor: async () => resolverOver(provider),
      cnameResolver: { ...chain, resolveCname: (fqdn) => (asked.push(fqdn), chain.resolveCname(fqdn)) },
    });
    await solver.present([APEX, WILD]);
    expect([...provider.records.entries()]).toEqual([[TARGET, ['apexValue_1', 'wildValue-2']]]);
    await solver.waitReady([APEX, WILD]);
    await solver.cleanup([APEX, WILD]);
    expect(provider.records.size).toBe(0);
    expect(solver.lastCleanupErrors).toEqual([]);
    // The chain is followed once for the three steps, not once per step.
    expect(asked).toEqual(['_acme-challenge.example.test', 'hop.delegate.test', TARGET]);
  });

  it('refuses a CNAME loop and a chain too long to follow, naming the chain', async () => {
    const provider = new FakeProvider();
    const loop = new Dns01Solver({
      provider,
      cnameResolver: cnames({
        '_acme-challenge.example.test': 'a.test',
        'a.test': '_acme-challenge.example.test',
      }),
    });
    const error = await loop.present([APEX]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('identifiers');
    expect((error as Error).message).toContain(
      'loops (_acme-challenge.example.test -> a.test -> _acme-challenge.example.test)',
    );
    const chain = Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [
        i === 0 ? '_acme-challenge.example.test' : `h${i}.test`,
        `h${i + 1}.test`,
      ]),
    );
    await expect(new Dns01Solver({ provider, cnameResolver: cnames(chain) }).present([APEX])).rejects.toThrow(
      /longer than 8 links/,
    );
    expect(provider.records.size).toBe(0);
  });

  it('writes where it would without a CNAME when the lookup itself fails', async () => {
    const provider = new FakeProvider();
    const solver = new Dns01Solver({
      provider,
      cnameResolver: { servers: ['down'], resolveCname: () => Promise.reject(new Error('ETIMEOUT')) },
    });
    await solver.present([APEX]);
    expect([...provider.records.keys()]).toEqual(['_acme-challenge.example.test']);
  });
});
