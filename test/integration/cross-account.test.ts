/**
 * A hosted zone in another AWS account, reached through a role, against moto. moto accepts
 * any credentials, so this cannot show that IAM would allow the calls; what it does show is
 * the mechanism: moto ties credentials from AssumeRole to the account in the role's ARN and
 * keeps each account's zones apart, so the zone below exists only in the other account and
 * every call about it must go through the assumed role to succeed at all.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateHostedZoneCommand,
  GetHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { STSClient } from '@aws-sdk/client-sts';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIssuerRuntime } from '../../composition/aws-issuer.js';
import { assumeRoleCredentials } from '../../shared/challenges/dns01/assume-role.js';
import { Route53DnsProvider } from '../../shared/challenges/dns01/route53.js';
import type { TxtResolver } from '../../shared/dns/resolver.js';
import { Dns01Solver } from '../../shared/challenges/dns01/solver.js';
import type { Challenge } from '../../shared/challenges/solver.js';
import { parseIdentifier } from '../../shared/model/identifiers.js';
import { parseCertificateSpec } from '../../shared/model/spec.js';
import { peers, route53Client, uniqueName } from '../../scripts/test-kit/peers.js';
import { pointHandlersAt } from '../../scripts/test-kit/stack.js';
import {
  createRole,
  OTHER_ACCOUNT,
  otherAccountCredentials,
  otherAccountRoute53,
  TEST_CREDENTIALS,
} from '../support/other-account.js';

const { motoEndpoint, region } = peers();
const ZONE = 'other.test';
const RECORD = `_acme-challenge.www.${ZONE}`;

/** This account (moto's default one, for the 'test' keys). */
const route53 = route53Client();
/** The other account's administrator, who creates the zone and the role there. */
let admin: Route53Client;
let roleArn: string;
let zoneId: string;

/** The TXT values of RECORD as the other account's Route53 holds them. */
async function txtInOtherAccount(): Promise<string[]> {
  const out = await admin.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  const set = out.ResourceRecordSets?.find((r) => r.Type === 'TXT' && r.Name === `${RECORD}.`);
  return (set?.ResourceRecords ?? []).map((r) => r.Value!);
}

/** The test DNS server serves this account's zones only: read the other one from moto. */
const otherAccountResolver: TxtResolver = {
  servers: [`moto (account ${OTHER_ACCOUNT})`],
  resolveTxt: async (fqdn) =>
    fqdn === RECORD ? (await txtInOtherAccount()).map((v) => [v.replace(/^"|"$/g, '')]) : [],
};

const dns01 = (name: string): Challenge => ({
  type: 'dns-01',
  identifier: parseIdentifier(name),
  token: randomUUID().replaceAll('-', ''),
  value: randomUUID().replaceAll('-', '_'),
});

/**
 * A middleware that records each command its client sends as "<operation> <zone, change
 * or role>". Generic, so that it fits the Route53 and the STS clients' stacks alike.
 */
const recordCommands =
  (into: string[]) =>
  <A extends { input: object }, R>(next: (args: A) => Promise<R>, context: { commandName?: string }) =>
  async (args: A): Promise<R> => {
    const input = args.input as { Id?: string; HostedZoneId?: string; RoleArn?: string };
    const target = input.HostedZoneId ?? input.Id ?? input.RoleArn;
    into.push(`${context.commandName?.replace(/Command$/, '')}${target ? ` ${target}` : ''}`);
    return next(args);
  };
const RECORDER = { step: 'initialize', name: 'recordCommands' } as const;

beforeAll(async () => {
  const credentials = await otherAccountCredentials();
  admin = otherAccountRoute53(credentials);
  roleArn = await createRole(credentials.accessKeyId, uniqueName('certkeeper-dns'));
  const zone = await admin.send(new CreateHostedZoneCommand({ Name: ZONE, CallerReference: randomUUID() }));
  zoneId = zone.HostedZone!.Id!.replace('/hostedzone/', '');
});

describe('a hosted zone in another account', () => {
  it('is out of reach of this account: the premise of the tests below', async () => {
    expect(roleArn).toMatch(new RegExp(`^arn:aws:iam::${OTHER_ACCOUNT}:role/certkeeper-dns-`));
    await expect(route53.send(new GetHostedZoneCommand({ Id: zoneId }))).rejects.toMatchObject({
      name: 'NoSuchHostedZone',
    });
  });

  it('takes a dns-01 round trip through the assumed role, found by the longest suffix', async () => {
    const sts = new STSClient({ endpoint: motoEndpoint, region, credentials: TEST_CREDENTIALS });
    const stsCalls: string[] = [];
    sts.middlewareStack.add(recordCommands(stsCalls), RECORDER);
    const mainCalls: string[] = [];
    const main = route53Client();
    main.middlewareStack.add(recordCommands(mainCalls), RECORDER);
    const roleCalls: string[] = [];
    const provider = new Route53DnsProvider(main, {
      pollIntervalMs: 100,
      zoneRoles: { [zoneId]: roleArn },
      clientForRole: (role) => {
        const client = new Route53Client({
          endpoint: motoEndpoint,
          region,
          credentials: assumeRoleCredentials(sts, role),
        });
        client.middlewareStack.add(recordCommands(roleCalls), RECORDER);
        return client;
      },
    });
    const solver = new Dns01Solver({
      provider,
      resolverFor: async () => otherAccountResolver,
      propagationTimeoutMs: 15_000,
      pollIntervalMs: 200,
    });
    const challenge = dns01(`www.${ZONE}`);

    await solver.present([challenge]);
    expect(await txtInOtherAccount()).toEqual([`"${challenge.value}"`]);
    await solver.waitReady([challenge]);
    await solver.cleanup([challenge]);
    expect(solver.lastCleanupErrors).toEqual([]);
    expect(await txtInOtherAccount()).toEqual([]);

    // One AssumeRole of the zone's role, its credentials kept for every later call.
    expect(stsCalls).toEqual([`AssumeRole ${roleArn}`]);
    // This account only listed its own zones; everything about the zone went through the role.
    expect(mainCalls).toEqual(['ListHostedZones']);
    expect(new Set(roleCalls)).toEqual(
      new Set([
        `GetHostedZone ${zoneId}`,
        `ListResourceRecordSets ${zoneId}`,
        `ChangeResourceRecordSets ${zoneId}`,
        ...roleCalls.filter((c) => c.startsWith('GetChange /change/')),
      ]),
    );
    expect(roleCalls.some((c) => c.startsWith('GetChange /change/'))).toBe(true);
  });

  it('is reached by the issuer runtime from CERTKEEPER_ZONE_ROLES, pinned or found', async () => {
    pointHandlersAt({
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL: motoEndpoint,
      // Named but never touched by a dns-01 present and cleanup.
      CERTKEEPER_BUCKET: 'unused-bucket',
      CERTKEEPER_TABLE: 'unused-table',
      CERTKEEPER_DIRECTORY_URL: peers().pebble.directoryUrl,
      CERTKEEPER_ZONE_ROLES: JSON.stringify({ [zoneId]: roleArn }),
    });
    const { solverFor } = buildIssuerRuntime(process.env).renewDeps;
    for (const hostedZoneId of [zoneId, undefined]) {
      const spec = parseCertificateSpec({
        name: 'cross-account',
        identifiers: [`www.${ZONE}`],
        hostedZoneId,
      });
      const solver = solverFor(spec)!;
      const challenge = dns01(`www.${ZONE}`);
      await solver.present([challenge]);
      expect(await txtInOtherAccount()).toEqual([`"${challenge.value}"`]);
      await solver.cleanup([challenge]);
      expect(await txtInOtherAccount()).toEqual([]);
    }
  });
});
