import {
  ChangeResourceRecordSetsCommand,
  type ChangeResourceRecordSetsCommandInput,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { describe, expect, it } from 'vitest';
import { Route53DnsProvider } from '../../../shared/challenges/dns01/route53.js';
import { ManualClock } from '../../../shared/model/clock.js';
import { CertkeeperError } from '../../../shared/model/errors.js';

const ZONE = { id: 'Z1', name: 'example.test' };
const RECORD = '_acme-challenge.example.test';

/**
 * A one-record-set Route53 with the real service's DELETE rule, which moto does not enforce:
 * a DELETE must match the current set exactly, or the whole batch fails with InvalidChangeBatch.
 */
class StrictRoute53 {
  set: { ttl: number; records: string[] } | undefined;
  /** Runs before each change batch is applied: a concurrent writer. */
  beforeChange: (() => void) | undefined;
  changes = 0;
  insyncAfterPolls = 0;

  async send(command: unknown): Promise<unknown> {
    if (command instanceof ListResourceRecordSetsCommand) {
      const sets = this.set
        ? [
            {
              Name: `${RECORD}.`,
              Type: 'TXT',
              TTL: this.set.ttl,
              ResourceRecords: this.set.records.map((Value) => ({ Value })),
            },
          ]
        : [];
      return { ResourceRecordSets: sets };
    }
    if (command instanceof ChangeResourceRecordSetsCommand) return this.change(command.input);
    if (command instanceof GetChangeCommand) {
      return { ChangeInfo: { Status: this.insyncAfterPolls-- > 0 ? 'PENDING' : 'INSYNC' } };
    }
    throw new Error(`unexpected ${String(command)}`);
  }

  private change(input: ChangeResourceRecordSetsCommandInput) {
    const concurrent = this.beforeChange;
    this.beforeChange = undefined;
    concurrent?.();
    let next = this.set;
    for (const change of input.ChangeBatch!.Changes!) {
      const rrs = change.ResourceRecordSet!;
      const records = (rrs.ResourceRecords ?? []).map((r) => r.Value!);
      if (change.Action === 'DELETE') {
        if (!next || next.ttl !== rrs.TTL || next.records.join() !== records.join())
          throw invalidBatch('do not match');
        next = undefined;
      } else if (change.Action === 'CREATE') {
        if (next) throw invalidBatch('already exists');
        next = { ttl: rrs.TTL!, records };
      }
    }
    this.set = next;
    return { ChangeInfo: { Id: `/change/C${++this.changes}`, Status: 'PENDING' } };
  }
}

const invalidBatch = (why: string) =>
  Object.assign(new Error(`Tried to change the record set but ${why}`), {
    name: 'InvalidChangeBatch',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });

const providerOn = (fake: StrictRoute53, options = {}) =>
  new Route53DnsProvider(fake as unknown as Route53Client, options);

describe('Route53DnsProvider compare-and-swap', () => {
  it('re-reads and keeps a value written between its read and its write', async () => {
    const fake = new StrictRoute53();
    fake.set = { ttl: 60, records: ['"first"'] };
    fake.beforeChange = () => (fake.set = { ttl: 60, records: ['"first"', '"concurrent"'] });
    await providerOn(fake).upsertTxt(ZONE, RECORD, ['ours']);
    expect(fake.set).toEqual({ ttl: 60, records: ['"first"', '"concurrent"', '"ours"'] });
    expect(fake.changes).toBe(1);
  });

  it('does not resurrect a value deleted concurrently, and removes the set with its last value', async () => {
    const fake = new StrictRoute53();
    fake.set = { ttl: 60, records: ['"other"', '"ours"'] };
    fake.beforeChange = () => (fake.set = { ttl: 60, records: ['"ours"'] });
    const change = await providerOn(fake).deleteTxt(ZONE, RECORD, ['ours']);
    expect(fake.set).toBeUndefined();
    expect(change).toBe('/change/C1');
    expect(await providerOn(fake).deleteTxt(ZONE, RECORD, ['ours'])).toBeUndefined();
  });

  it('gives up after a bounded number of lost races with the translated error', async () => {
    const fake = new StrictRoute53();
    let n = 0;
    const provider = providerOn(fake);
    const keepRacing = () => {
      fake.set = { ttl: 60, records: [`"writer${++n}"`] };
      fake.beforeChange = keepRacing;
    };
    fake.set = { ttl: 60, records: ['"start"'] };
    fake.beforeChange = keepRacing;
    const err = await provider.upsertTxt(ZONE, RECORD, ['ours']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as Error).message).toContain('ChangeResourceRecordSets on TXT _acme-challenge.example.test');
    expect(n).toBe(4);
  });

  it('waits for INSYNC within a deadline, backing off to 2.5x the first wait (the API allows 5 requests/s)', async () => {
    const fake = new StrictRoute53();
    const clock = new ManualClock('2026-05-01T00:00:00Z');
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
      clock.advance(ms);
    };
    const timing = { clock, sleep, pollIntervalMs: 1_000 };
    fake.insyncAfterPolls = 4;
    await providerOn(fake, { ...timing, changeTimeoutMs: 10_000 }).waitForChange('/change/C1');
    expect(slept).toEqual([1_000, 2_000, 2_500, 2_500]);
    expect(clock.now().toISOString()).toBe('2026-05-01T00:00:08.000Z');
    fake.insyncAfterPolls = 100;
    const err = await providerOn(fake, { ...timing, changeTimeoutMs: 5_000 })
      .waitForChange('/change/C2')
      .catch((e: unknown) => e);
    expect((err as CertkeeperError).retryable).toBe(true);
    expect((err as Error).message).toContain('/change/C2');
  });
});
