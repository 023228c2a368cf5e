/**
 * The DnsProvider contract: what the dns-01 solver relies on, run against every adapter:
 * Route53 on moto in this account, and Route53 on moto for zones in another account reached
 * through an assumed role. What a resolver sees is asked of the test DNS server (which
 * answers from this account's Route53 records); the other account's zones are outside its
 * view, so there the adapter reads that account's records. A new adapter passes by adding one
 * entry to ADAPTERS. Route53-only behaviour (compare-and-swap under lost races, TTLs, GetChange
 * through the role) stays in test/unit/challenges/ and test/integration/.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { beforeAll, describe, expect, it } from 'vitest';
import { assumeRoleCredentials } from '../../shared/challenges/dns01/assume-role.js';
import type { DnsProvider, DnsZone } from '../../shared/challenges/dns01/provider.js';
import { NameserverTxtResolver } from '../../shared/dns/resolver.js';
import { Route53DnsProvider, unquoteTxt } from '../../shared/challenges/dns01/route53.js';
import { NotFoundError, ValidationError } from '../../shared/model/errors.js';
import {
  createRole,
  otherAccountCredentials,
  otherAccountRoute53,
  stsClient,
} from '../support/other-account.js';
import { peers, route53Client, uniqueName } from '../../scripts/test-kit/peers.js';

interface ZoneRequest {
  name: string;
  private?: boolean;
}

interface DnsAdapter {
  name: string;
  /** What findZone says when no zone holds the domain. */
  missingZone(domain: string): string;
  /** Creates the zones where the provider reaches them, then the provider (which may need their ids). */
  open(zones: readonly ZoneRequest[]): Promise<{
    provider: DnsProvider;
    ids: string[];
    /** The TXT values a resolver answering for the zone serves at `fqdn`. */
    served(fqdn: string): Promise<string[]>;
  }>;
}

const createZone = async (client: Route53Client, zone: ZoneRequest): Promise<string> => {
  const out = await client.send(
    new CreateHostedZoneCommand({
      Name: zone.name,
      CallerReference: randomUUID(),
      ...(zone.private
        ? { HostedZoneConfig: { PrivateZone: true }, VPC: { VPCRegion: 'us-east-1', VPCId: 'vpc-12345678' } }
        : {}),
    }),
  );
  return out.HostedZone!.Id!.replace('/hostedzone/', '');
};

const FAST = { pollIntervalMs: 100 };

const ADAPTERS: DnsAdapter[] = [
  {
    name: 'Route53DnsProvider (moto)',
    missingZone: (domain) => `no Route53 hosted zone for ${domain}`,
    async open(zones) {
      const client = route53Client();
      const ids: string[] = [];
      for (const zone of zones) ids.push(await createZone(client, zone));
      const resolver = new NameserverTxtResolver([peers().dnsServer]);
      return {
        provider: new Route53DnsProvider(client, FAST),
        ids,
        served: async (fqdn) => (await resolver.resolveTxt(fqdn)).map((strings) => strings.join('')),
      };
    },
  },
  {
    name: 'Route53DnsProvider, zones in another account through a role (moto)',
    missingZone: (domain) => `no Route53 hosted zone for ${domain}`,
    async open(zones) {
      const credentials = await otherAccountCredentials();
      const admin = otherAccountRoute53(credentials);
      const roleArn = await createRole(credentials.accessKeyId, uniqueName('dns-contract'));
      const ids: string[] = [];
      for (const zone of zones) ids.push(await createZone(admin, zone));
      const sts = stsClient();
      const provider = new Route53DnsProvider(route53Client(), {
        ...FAST,
        zoneRoles: Object.fromEntries(ids.map((id) => [id, roleArn])),
        clientForRole: (role) => otherAccountRoute53(assumeRoleCredentials(sts, role)),
      });
      return {
        provider,
        ids,
        async served(fqdn) {
          const name = `${fqdn.toLowerCase()}.`;
          const sets = await Promise.all(
            ids.map((id) => admin.send(new ListResourceRecordSetsCommand({ HostedZoneId: id }))),
          );
          return sets
            .flatMap((out) => out.ResourceRecordSets ?? [])
            .filter((set) => set.Type === 'TXT' && set.Name === name)
            .flatMap((set) => (set.ResourceRecords ?? []).map((r) => unquoteTxt(r.Value!)));
        },
      };
    },
  },
];

describe.each(ADAPTERS)('DnsProvider contract: $name', (adapter) => {
  // Other test files share moto and the DNS server: every name here lives under a fresh domain.
  const parent = `${uniqueName('dnsc')}.test`;
  const domain = `example.${parent}`;
  const twin = `twin.${parent}`;
  const ZONES: ZoneRequest[] = [
    { name: parent },
    { name: domain },
    { name: `private.${parent}`, private: true },
    { name: twin },
    { name: twin },
  ];
  let provider: DnsProvider;
  let served: (fqdn: string) => Promise<string[]>;
  let zone: DnsZone;
  beforeAll(async () => {
    const opened = await adapter.open(ZONES);
    ({ provider, served } = opened);
    zone = { id: opened.ids[1]!, name: domain };
  });

  it('finds the zone with the longest matching name, whatever the case and trailing dot, never a private one', async () => {
    expect(await provider.findZone(`_acme-challenge.www.${domain}`)).toEqual(zone);
    expect(await provider.findZone(`_acme-challenge.${domain.toUpperCase()}.`)).toEqual(zone);
    expect((await provider.findZone(`_acme-challenge.other.${parent}`)).name).toBe(parent);
    expect((await provider.findZone(`_acme-challenge.host.private.${parent}`)).name).toBe(parent);
    expect(await provider.getZone(zone.id)).toEqual(zone);
  });

  it('says which zone is missing and how to fix it', async () => {
    const missing = `example.nozone-${randomUUID().slice(0, 8)}.invalid`;
    const err = await provider.findZone(`_acme-challenge.${missing}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    // The domain the operator declared, not the challenge label in front of it.
    expect((err as Error).message).toBe(adapter.missingZone(missing));
    expect((err as NotFoundError).fix).toContain('hostedZoneId');
  });

  it('refuses to guess between two public zones of the same name', async () => {
    const err = await provider.findZone(`_acme-challenge.${twin}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('hostedZoneId');
  });

  it("names the zone's name servers as host names", async () => {
    const servers = await provider.nameServers(zone);
    expect(servers.length).toBeGreaterThan(0);
    for (const host of servers) expect(host).toMatch(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/);
  });

  it('adds values beside the ones already there, and serves them once the change is live', async () => {
    const record = `_acme-challenge.shared.${domain}`;
    const change = await provider.upsertTxt(zone, record, ['foreign-certificate']);
    expect(change).toEqual(expect.any(String));
    await provider.waitForChange(change!);

    const ours = await provider.upsertTxt(zone, record, ['apex-value', 'wildcard-value']);
    await provider.waitForChange(ours!);
    expect((await served(record)).sort()).toEqual(['apex-value', 'foreign-certificate', 'wildcard-value']);
    // Nothing to change: no change to wait for.
    expect(await provider.upsertTxt(zone, `${record}.`, ['wildcard-value'])).toBeUndefined();
  });

  it('removes only the values asked, the record set with the last one, and again removes nothing', async () => {
    const record = `_acme-challenge.gone.${domain}`;
    await provider.waitForChange((await provider.upsertTxt(zone, record, ['keep-me', 'drop-me']))!);
    const change = await provider.deleteTxt(zone, record, ['drop-me']);
    await provider.waitForChange(change!);
    expect(await served(record)).toEqual(['keep-me']);

    await provider.waitForChange((await provider.deleteTxt(zone, record, ['keep-me']))!);
    expect(await served(record)).toEqual([]);
    expect(await provider.deleteTxt(zone, record, ['keep-me', 'drop-me'])).toBeUndefined();
  });

  it('refuses a name outside the zone, naming the field to fix, and writes nothing', async () => {
    const outside = `_acme-challenge.www.elsewhere-${randomUUID().slice(0, 8)}.test`;
    const err = await provider.upsertTxt(zone, outside, ['value']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('hostedZoneId');
    expect((err as Error).message).toContain(zone.id);
    expect(await served(outside)).toEqual([]);
  });
});
