/**
 * Hosted zones in other accounts: which Route53 client each call about a zone goes
 * through, and the assumed-role credentials behind the other accounts' clients.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  GetHostedZoneCommand,
  ListHostedZonesCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { AssumeRoleCommand, type AssumeRoleCommandInput, type STSClient } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { assumeRoleCredentials } from '../../../shared/challenges/dns01/assume-role.js';
import { Route53DnsProvider } from '../../../shared/challenges/dns01/route53.js';
import { Dns01Solver } from '../../../shared/challenges/dns01/solver.js';
import { ManualClock, MINUTE } from '../../../shared/model/clock.js';
import { CertkeeperError } from '../../../shared/model/errors.js';
import { parseIdentifier } from '../../../shared/model/identifiers.js';
import { parseRuntimeEnv } from '../../../shared/model/runtime-config.js';

const ROLE = 'arn:aws:iam::210987654321:role/certkeeper-dns';
const OTHER_ROLE = 'arn:aws:iam::333333333333:role/certkeeper-dns';

interface FakeZone {
  id: string;
  name: string;
  private?: boolean;
}

const awsError = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $fault: 'client', $metadata: { httpStatusCode: status } });

/**
 * One account's Route53: its zones, TXT records, and every call made to it as
 * "<operation> <zone or change id>". Like the real service, it knows only its own zones.
 */
class FakeAccount {
  readonly calls: string[] = [];
  readonly txt = new Map<string, string[]>();
  private changes = 0;

  constructor(
    readonly account: string,
    private readonly zones: FakeZone[],
  ) {}

  get client(): Route53Client {
    return this as unknown as Route53Client;
  }

  async send(command: unknown): Promise<unknown> {
    if (command instanceof ListHostedZonesCommand) {
      this.calls.push('ListHostedZones');
      return {
        HostedZones: this.zones.map((z) => ({
          Id: `/hostedzone/${z.id}`,
          Name: `${z.name}.`,
          Config: { PrivateZone: z.private ?? false },
        })),
      };
    }
    if (command instanceof GetHostedZoneCommand) {
      const zone = this.zone(command.input.Id!, 'GetHostedZone');
      return {
        HostedZone: { Id: `/hostedzone/${zone.id}`, Name: `${zone.name}.`, Config: { PrivateZone: false } },
        DelegationSet: { NameServers: [`ns-1.${this.account}.example.`] },
      };
    }
    if (command instanceof ListResourceRecordSetsCommand) {
      const zone = this.zone(command.input.HostedZoneId!, 'ListResourceRecordSets');
      const name = command.input.StartRecordName!;
      const values = this.txt.get(`${zone.id} ${name}`);
      return {
        ResourceRecordSets: values
          ? [{ Name: `${name}.`, Type: 'TXT', TTL: 60, ResourceRecords: values.map((Value) => ({ Value })) }]
          : [],
      };
    }
    if (command instanceof ChangeResourceRecordSetsCommand) {
      const zone = this.zone(command.input.HostedZoneId!, 'ChangeResourceRecordSets');
      for (const change of command.input.ChangeBatch!.Changes!) {
        const set = change.ResourceRecordSet!;
        const key = `${zone.id} ${set.Name}`;
        if (change.Action === 'DELETE') this.txt.delete(key);
        else
          this.txt.set(
            key,
            set.ResourceRecords!.map((r) => r.Value!),
          );
      }
      return { ChangeInfo: { Id: `/change/${this.account}-C${++this.changes}`, Status: 'PENDING' } };
    }
    if (command instanceof GetChangeCommand) {
      const id = command.input.Id!;
      this.calls.push(`GetChange ${id}`);
      if (!id.startsWith(`/change/${this.account}-`)) throw awsError('NoSuchChange', 404);
      return { ChangeInfo: { Id: id, Status: 'INSYNC' } };
    }
    throw new Error(`unexpected ${String(command)}`);
  }

  private zone(id: string, operation: string): FakeZone {
    const bare = id.replace(/^\/hostedzone\//, '');
    this.calls.push(`${operation} ${bare}`);
    const zone = this.zones.find((z) => z.id === bare);
    if (!zone) throw awsError('NoSuchHostedZone', 404);
    return zone;
  }
}

/** This account with example.test, another with other.test and a third with third.test. */
function accounts() {
  const main = new FakeAccount('main', [
    { id: 'ZMAIN', name: 'example.test' },
    // A parent of the other account's zone: the longest suffix must still win.
    { id: 'ZTEST', name: 'test' },
  ]);
  const other = new FakeAccount('other', [
    { id: 'ZOTHER', name: 'other.test' },
    { id: 'ZOTHER2', name: 'two.other.test' },
  ]);
  const third = new FakeAccount('third', [{ id: 'ZTHIRD', name: 'third.test' }]);
  const byRole: Record<string, FakeAccount> = { [ROLE]: other, [OTHER_ROLE]: third };
  const made: string[] = [];
  const provider = ({
    clock = new ManualClock('2026-05-01T00:00:00Z'),
    zoneCacheMs,
  }: { clock?: ManualClock; zoneCacheMs?: number } = {}) =>
    new Route53DnsProvider(main.client, {
      // A GetChange asked of the wrong account would poll until this short, fake-time bound.
      clock,
      sleep: async (ms) => clock.advance(ms),
      changeTimeoutMs: 10_000,
      zoneCacheMs,
      zoneRoles: { ZOTHER: ROLE, ZOTHER2: ROLE, ZTHIRD: OTHER_ROLE },
      clientForRole: (roleArn) => {
        made.push(roleArn);
        return byRole[roleArn]!.client;
      },
    });
  return { main, other, third, made, provider };
}

describe('Route53DnsProvider with zones in other accounts', () => {
  it('finds role zones by GetHostedZone through their role, the longest suffix winning', async () => {
    const { main, other, third, made, provider } = accounts();
    const p = provider();
    expect(await p.findZone('_acme-challenge.www.other.test')).toEqual({ id: 'ZOTHER', name: 'other.test' });
    expect(await p.findZone('_acme-challenge.a.two.other.test')).toEqual({
      id: 'ZOTHER2',
      name: 'two.other.test',
    });
    expect(await p.findZone('_acme-challenge.www.example.test')).toEqual({
      id: 'ZMAIN',
      name: 'example.test',
    });
    expect((await p.findZone('_acme-challenge.elsewhere.test')).id).toBe('ZTEST');
    // The listing (both accounts) was read once for all four lookups.
    expect(main.calls).toEqual(['ListHostedZones']);
    expect(other.calls.sort()).toEqual(['GetHostedZone ZOTHER', 'GetHostedZone ZOTHER2']);
    expect(third.calls).toEqual(['GetHostedZone ZTHIRD']);
    // One client per role, whatever the number of its zones.
    expect(made.sort()).toEqual([ROLE, OTHER_ROLE].sort());
  });

  it('re-reads the role zones with the listing when the cache expires', async () => {
    const { main, other, provider } = accounts();
    const clock = new ManualClock('2026-05-01T00:00:00Z');
    const p = provider({ clock, zoneCacheMs: MINUTE });
    await p.findZone('_acme-challenge.other.test');
    clock.advance(MINUTE + 1);
    await p.findZone('_acme-challenge.other.test');
    expect(main.calls).toEqual(['ListHostedZones', 'ListHostedZones']);
    expect(other.calls.filter((c) => c === 'GetHostedZone ZOTHER')).toHaveLength(2);
  });

  it("asks for a zone's name servers once per cache period (Route53 allows 5 requests/s per account)", async () => {
    const { other, provider } = accounts();
    const clock = new ManualClock('2026-05-01T00:00:00Z');
    const p = provider({ clock, zoneCacheMs: MINUTE });
    const zone = await p.findZone('_acme-challenge.www.other.test');
    other.calls.length = 0;
    expect(await p.nameServers(zone)).toEqual(['ns-1.other.example']);
    expect(await p.nameServers(zone)).toEqual(['ns-1.other.example']);
    expect(other.calls).toEqual(['GetHostedZone ZOTHER']);
    clock.advance(MINUTE + 1);
    await p.nameServers(zone);
    expect(other.calls).toEqual(['GetHostedZone ZOTHER', 'GetHostedZone ZOTHER']);
  });

  it('writes, waits for and deletes a role zone TXT only through its role client', async () => {
    const { main, other, provider } = accounts();
    const p = provider();
    const zone = await p.findZone('_acme-challenge.www.other.test');
    main.calls.length = 0;
    other.calls.length = 0;

    const change = await p.upsertTxt(zone, '_acme-challenge.www.other.test', ['v1']);
    await p.waitForChange(change!);
    expect(await p.nameServers(zone)).toEqual(['ns-1.other.example']);
    expect(other.txt.get('ZOTHER _acme-challenge.www.other.test')).toEqual(['"v1"']);
    await p.deleteTxt(zone, '_acme-challenge.www.other.test', ['v1']);

    expect(main.calls).toEqual([]);
    expect(other.calls).toEqual([
      'ListResourceRecordSets ZOTHER',
      'ChangeResourceRecordSets ZOTHER',
      'GetChange /change/other-C1',
      'GetHostedZone ZOTHER',
      'ListResourceRecordSets ZOTHER',
      'ChangeResourceRecordSets ZOTHER',
    ]);
    expect(other.txt.size).toBe(0);
  });

  it('keeps the main client for zones without a role, changes included', async () => {
    const { main, other, provider } = accounts();
    const p = provider();
    const change = await p.upsertTxt({ id: 'ZMAIN', name: 'example.test' }, '_acme-challenge.example.test', [
      'v',
    ]);
    await p.waitForChange(change!);
    expect(main.calls).toEqual([
      'ListResourceRecordSets ZMAIN',
      'ChangeResourceRecordSets ZMAIN',
      'GetChange /change/main-C1',
    ]);
    expect(other.calls).toEqual([]);
  });

  it("honours a certificate's explicit hostedZoneId that is a role zone", async () => {
    const { main, other, provider } = accounts();
    const solver = new Dns01Solver({
      provider: provider(),
      hostedZoneId: '/hostedzone/ZOTHER',
      resolverFor: async () => ({
        servers: ['fake'],
        resolveTxt: async (name) =>
          (other.txt.get(`ZOTHER ${name}`) ?? []).map((v) => [v.replace(/^"|"$/g, '')]),
      }),
    });
    const challenge = {
      type: 'dns-01' as const,
      identifier: parseIdentifier('www.other.test'),
      token: 'token',
      value: 'digest_value',
    };
    await solver.present([challenge]);
    await solver.waitReady([challenge]);
    await solver.cleanup([challenge]);
    expect(solver.lastCleanupErrors).toEqual([]);
    expect(main.calls).toEqual([]);
    expect(other.calls.filter((c) => c.startsWith('GetHostedZone'))).toEqual([
      'GetHostedZone ZOTHER',
      'GetHostedZone ZOTHER',
      'GetHostedZone ZOTHER',
    ]);
    expect(other.calls).toContain('GetChange /change/other-C1');
    expect(other.txt.size).toBe(0);
  });

  it('fails the lookup, uncached, when a role zone cannot be read, naming the role', async () => {
    const { main, other, provider } = accounts();
    const p = provider();
    const send = other.send.bind(other);
    other.send = async () => {
      throw awsError('AccessDenied', 403);
    };
    const err = await p.findZone('_acme-challenge.www.example.test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as Error).message).toContain(`GetHostedZone on hosted zone ZOTHER via role ${ROLE}`);
    other.send = send;
    expect((await p.findZone('_acme-challenge.www.other.test')).id).toBe('ZOTHER');
    expect(main.calls).toEqual(['ListHostedZones', 'ListHostedZones']);
  });

  it('refuses zone roles without a way to make their clients', () => {
    expect(
      () => new Route53DnsProvider(new FakeAccount('main', []).client, { zoneRoles: { ZOTHER: ROLE } }),
    ).toThrow(/clientForRole/);
  });
});

/** STS that hands out numbered credentials for 15 minutes of `clock` time. */
class FakeSts {
  readonly requests: AssumeRoleCommandInput[] = [];
  fail: Error | undefined;

  constructor(private readonly clock: ManualClock) {}

  get client(): STSClient {
    return this as unknown as STSClient;
  }

  async send(command: unknown): Promise<unknown> {
    if (!(command instanceof AssumeRoleCommand)) throw new Error(`unexpected ${String(command)}`);
    this.requests.push(command.input);
    if (this.fail) throw this.fail;
    const n = this.requests.length;
    return {
      Credentials: {
        AccessKeyId: `ASIA${n}`,
        SecretAccessKey: `secret${n}`,
        SessionToken: `token${n}`,
        Expiration: new Date(this.clock.now().getTime() + command.input.DurationSeconds! * 1000),
      },
    };
  }
}

describe('assumeRoleCredentials', () => {
  const start = () => {
    const clock = new ManualClock('2026-05-01T00:00:00Z');
    const sts = new FakeSts(clock);
    return { clock, sts, credentials: assumeRoleCredentials(sts.client, ROLE, { clock }) };
  };

  it('assumes the role for 15 minutes as certkeeper-issuer, and reuses the credentials', async () => {
    const { clock, sts, credentials } = start();
    const first = await credentials();
    expect(first).toEqual({
      accessKeyId: 'ASIA1',
      secretAccessKey: 'secret1',
      sessionToken: 'token1',
      expiration: new Date('2026-05-01T00:15:00Z'),
    });
    expect(sts.requests).toEqual([
      { RoleArn: ROLE, RoleSessionName: 'certkeeper-issuer', DurationSeconds: 900 },
    ]);
    clock.advance(9 * MINUTE);
    expect(await credentials()).toBe(first);
    expect(sts.requests).toHaveLength(1);
  });

  it('assumes the role again shortly before the credentials expire, and after', async () => {
    const { clock, sts, credentials } = start();
    await credentials();
    clock.advance(10 * MINUTE);
    expect((await credentials()).accessKeyId).toBe('ASIA2');
    clock.advance(60 * MINUTE);
    expect((await credentials()).accessKeyId).toBe('ASIA3');
    expect(await credentials()).toMatchObject({ accessKeyId: 'ASIA3' });
    expect(sts.requests).toHaveLength(3);
  });

  it('shares one AssumeRole between concurrent callers', async () => {
    const { sts, credentials } = start();
    const all = await Promise.all([credentials(), credentials(), credentials()]);
    expect(new Set(all.map((c) => c.accessKeyId))).toEqual(new Set(['ASIA1']));
    expect(sts.requests).toHaveLength(1);
  });

  it('does not keep a failure, and says to fix the trust policy when denied', async () => {
    const { sts, credentials } = start();
    sts.fail = Object.assign(awsError('AccessDenied', 403), {
      message:
        'User: arn:aws:sts::123456789012:assumed-role/issuer is not authorized to perform: sts:AssumeRole',
    });
    const err = await credentials().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as CertkeeperError).retryable).toBe(false);
    expect((err as Error).message).toContain(`STS AssumeRole on ${ROLE} was denied`);
    expect((err as CertkeeperError).fix).toContain('trust policy');
    sts.fail = awsError('ServiceUnavailable', 503);
    await expect(credentials()).rejects.toMatchObject({ retryable: true });
    sts.fail = undefined;
    expect((await credentials()).accessKeyId).toBe('ASIA3');
  });
});

describe('CERTKEEPER_ZONE_ROLES', () => {
  const parse = (value: string | undefined) =>
    parseRuntimeEnv({
      CERTKEEPER_BUCKET: 'bucket',
      CERTKEEPER_TABLE: 'table',
      CERTKEEPER_DIRECTORY_URL: 'https://acme.example/directory',
      CERTKEEPER_ZONE_ROLES: value,
    }).CERTKEEPER_ZONE_ROLES;
  const problem = (value: string) => {
    try {
      parse(value);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`${value} was accepted`);
  };

  it('maps zone ids to role ARNs, and is empty when unset', () => {
    expect(parse(JSON.stringify({ ZOTHER: ROLE, ZTHIRD: OTHER_ROLE }))).toEqual({
      ZOTHER: ROLE,
      ZTHIRD: OTHER_ROLE,
    });
    expect(parse(undefined)).toEqual({});
    expect(parse('')).toEqual({});
  });

  it('names the variable, and the zone when one entry is wrong', () => {
    expect(problem('{"ZOTHER": "certkeeper-dns"}')).toBe(
      'environment.CERTKEEPER_ZONE_ROLES.ZOTHER: must be an IAM role ARN',
    );
    expect(problem(`{"/hostedzone/ZOTHER": "${ROLE}"}`)).toBe(
      'environment.CERTKEEPER_ZONE_ROLES./hostedzone/ZOTHER: must be a bare hosted zone id such as Z0123456789ABC',
    );
    expect(problem(`ZOTHER=${ROLE}`)).toMatch(
      /^environment\.CERTKEEPER_ZONE_ROLES: is not JSON; expected \{"Z/,
    );
    expect(problem(`["${ROLE}"]`)).toMatch(
      /^environment\.CERTKEEPER_ZONE_ROLES: must be a JSON object such as/,
    );
  });
});
