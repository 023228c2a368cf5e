import { randomUUID } from 'node:crypto';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
} from '@aws-sdk/client-route-53';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { Route53DnsProvider } from '../../shared/challenges/dns01/route53.js';
import { NameserverTxtResolver } from '../../shared/dns/resolver.js';
import { Dns01Solver } from '../../shared/challenges/dns01/solver.js';
import { S3Http01Solver } from '../../shared/challenges/http01/s3.js';
import type { Challenge } from '../../shared/challenges/solver.js';
import { NotFoundError } from '../../shared/model/errors.js';
import { parseIdentifier } from '../../shared/model/identifiers.js';
import { http01Key } from '../../shared/store/layout.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { peers, route53Client, s3Client, uniqueName } from '../../scripts/test-kit/peers.js';

const dnsServer = peers().dnsServer;
const route53 = route53Client();

// What every DnsProvider and ChallengeSolver promises (zone lookup, values kept and removed,
// present, ready, cleanup, refused batches, Pebble validating) is in test/contracts/; these
// are the dns-01 solver's record grouping, TTLs, pinned zones and cleanup errors, and S3's
// object metadata.
// Other test files share moto and the DNS server: every name here lives under a fresh domain.
const parent = `${uniqueName('ck')}.test`;
const domain = `example.${parent}`;
const zoneIds: Record<string, string> = {};

async function createZone(name: string): Promise<string> {
  const out = await route53.send(new CreateHostedZoneCommand({ Name: name, CallerReference: randomUUID() }));
  return out.HostedZone!.Id!.replace('/hostedzone/', '');
}

async function txtValues(
  zoneId: string,
  name: string,
): Promise<{ ttl?: number; values: string[] } | undefined> {
  const out = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  const set = out.ResourceRecordSets?.find((r) => r.Type === 'TXT' && r.Name === `${name}.`);
  return set && { ttl: set.TTL, values: (set.ResourceRecords ?? []).map((r) => r.Value!) };
}

const dns01 = (name: string): Challenge => ({
  type: 'dns-01',
  identifier: parseIdentifier(name),
  token: randomUUID().replaceAll('-', ''),
  value: randomUUID().replaceAll('-', '_'),
});

const provider = () => new Route53DnsProvider(route53, { pollIntervalMs: 100 });
const solver = () =>
  new Dns01Solver({
    provider: provider(),
    nameservers: [dnsServer],
    propagationTimeoutMs: 15_000,
    pollIntervalMs: 200,
  });

beforeAll(async () => {
  zoneIds[parent] = await createZone(parent);
  zoneIds[domain] = await createZone(domain);
});

describe('Dns01Solver against moto and the test DNS server', () => {
  it('publishes apex and wildcard values side by side, and removes each independently', async () => {
    const record = `_acme-challenge.${domain}`;
    const apex = dns01(domain);
    const wildcard = dns01(`*.${domain}`);
    const s = solver();

    await s.present([apex, wildcard]);
    expect(await txtValues(zoneIds[domain]!, record)).toEqual({
      ttl: 60,
      values: [`"${apex.value}"`, `"${wildcard.value}"`],
    });
    await s.waitReady([apex, wildcard]);
    const served = (await new NameserverTxtResolver([dnsServer]).resolveTxt(record)).map((r) => r.join(''));
    expect(served.sort()).toEqual([apex.value, wildcard.value].sort());

    await s.cleanup([apex]);
    expect((await txtValues(zoneIds[domain]!, record))?.values).toEqual([`"${wildcard.value}"`]);
    await s.cleanup([wildcard]);
    expect(await txtValues(zoneIds[domain]!, record)).toBeUndefined();
    await s.cleanup([apex, wildcard]);
    expect(s.lastCleanupErrors).toEqual([]);
  });

  it('keeps values another writer put at the same name', async () => {
    const record = `_acme-challenge.shared.${domain}`;
    await route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneIds[domain],
        ChangeBatch: {
          Changes: [
            {
              Action: 'CREATE',
              ResourceRecordSet: {
                Name: record,
                Type: 'TXT',
                TTL: 300,
                ResourceRecords: [{ Value: '"foreign"' }],
              },
            },
          ],
        },
      }),
    );
    const ours = dns01(`shared.${domain}`);
    const s = solver();
    await s.present([ours]);
    await s.waitReady([ours]);
    expect((await txtValues(zoneIds[domain]!, record))?.values).toEqual(['"foreign"', `"${ours.value}"`]);
    await s.cleanup([ours]);
    // The set took our short TTL while our value was in it; the foreign value stays.
    expect(await txtValues(zoneIds[domain]!, record)).toEqual({ ttl: 60, values: ['"foreign"'] });
  });

  it('writes into an explicit hosted zone, and fails clearly when no zone exists', async () => {
    const ours = dns01(`pinned.${domain}`);
    const pinned = solver().withHostedZone(zoneIds[domain]);
    await pinned.present([ours]);
    expect((await txtValues(zoneIds[domain]!, `_acme-challenge.pinned.${domain}`))?.values).toEqual([
      `"${ours.value}"`,
    ]);
    await pinned.cleanup([ours]);

    const orphan = dns01(`www.nozone-${randomUUID().slice(0, 8)}.invalid`);
    const s = solver();
    await expect(s.present([orphan])).rejects.toBeInstanceOf(NotFoundError);
    await s.cleanup([orphan]);
    expect(s.lastCleanupErrors[0]).toBeInstanceOf(NotFoundError);
  });
});

describe('S3Http01Solver against moto', () => {
  it('stores the key authorization as text/plain, where the responder serves it from', async () => {
    const s3 = s3Client();
    const bucket = uniqueName('certkeeper-http01');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const store = new S3ObjectStore(s3, { bucket });
    const token = randomUUID().replaceAll('-', '');
    const challenge: Challenge = {
      type: 'http-01',
      identifier: parseIdentifier('192.0.2.10'),
      token,
      value: `${token}.thumbprint`,
    };
    const http01 = new S3Http01Solver({ store });
    await http01.present([challenge]);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: http01Key(token) }));
    expect(head.ContentType).toMatch(/^text\/plain/);
    await http01.cleanup([challenge]);
  });
});
