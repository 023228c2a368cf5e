import { asCertkeeperError, type CertkeeperError, ValidationError } from '../../model/errors.js';
import { dnsChallengeName } from '../../model/identifiers.js';
import { type Log, silentLog } from '../../model/log.js';
import { pollUntil, type PollTiming } from '../poll.js';
import type { Challenge, ChallengeSolver } from '../solver.js';
import type { DnsProvider, DnsZone } from './provider.js';
import { followCname } from './cname.js';
import {
  authoritativeResolver,
  type CnameResolver,
  NameserverTxtResolver,
  type TxtResolver,
} from '../../dns/resolver.js';

export interface Dns01SolverOptions extends PollTiming {
  provider: DnsProvider;
  /** The certificate spec's `hostedZoneId`: bypasses the longest-suffix zone lookup. */
  hostedZoneId?: string;
  /**
   * Servers for the propagation check ("ip" or "ip:port"), instead of the zone's
   * authoritative ones: a test DNS server, or a split-horizon setup's public view.
   */
  nameservers?: readonly string[];
  /** Replaces the resolver choice altogether. */
  resolverFor?: (zone: DnsZone) => Promise<TxtResolver>;
  /**
   * Where `_acme-challenge` CNAMEs are looked up, as the CA would see them: `nameservers`
   * when given, else the system's resolvers.
   */
  cnameResolver?: CnameResolver;
  /** Bound on the wait for the TXT values to be served. */
  propagationTimeoutMs?: number;
  pollIntervalMs?: number;
  log?: Log;
}

/** The values that must be published together at one record name. */
export interface TxtRecordGroup {
  name: string;
  values: string[];
}

/** A group as it is written: at `name`, or at the end of the CNAME chain that starts there. */
interface TargetGroup extends TxtRecordGroup {
  /** The `_acme-challenge` name the CA asks for, when a CNAME delegates it elsewhere. */
  delegatedFrom?: string;
}

/** RFC 8555 §8.4: base64url(SHA-256(key authorization)); nothing else goes into our TXT. */
const DNS01_VALUE = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * ChallengeSolver for dns-01 on any DnsProvider. Challenges are grouped by record name, since
 * the apex and the wildcard of a name (RFC 8555 §8.4 drops the `*.`) need two TXT values at
 * `_acme-challenge.<name>` at once; each group is written in one change. `waitReady` waits
 * for the provider's change and then asks the zone's name servers until they serve every
 * value. `cleanup` removes only our values and never throws: a leftover TXT value is harmless,
 * a renewal failed by its cleanup is not. Its errors are logged and kept in `lastCleanupErrors`.
 */
export class Dns01Solver implements ChallengeSolver {
  readonly type = 'dns-01' as const;
  /** What the last cleanup could not remove (empty when it all went). */
  lastCleanupErrors: CertkeeperError[] = [];
  private readonly changes = new Map<string, string>();
  /** `_acme-challenge` name -> where its values go (itself, or the end of its CNAME chain). */
  private readonly cnameTargets = new Map<string, string>();
  private readonly cnames: CnameResolver;
  private readonly log: Log;

  constructor(private readonly options: Dns01SolverOptions) {
    this.log = options.log ?? silentLog;
    this.cnames = options.cnameResolver ?? new NameserverTxtResolver(options.nameservers ?? []);
  }

  /** The same solver bound to one certificate's explicit zone (or back to the lookup). */
  withHostedZone(hostedZoneId: string | undefined): Dns01Solver {
    return new Dns01Solver({ ...this.options, hostedZoneId });
  }

  async present(challenges: readonly Challenge[]): Promise<void> {
    // Every group settles before a failure is reported: the cleanup that follows must not
    // race a write still in flight, or it could miss the value that write leaves behind.
    const groups = await this.targets(challenges);
    await allSettledOrThrow(
      groups.map(async (group) => {
        const zone = await this.zoneFor(group);
        const change = await this.options.provider.upsertTxt(zone, group.name, group.values);
        if (change) this.changes.set(group.name, change);
        this.log.info('dns-01 TXT values published', {
          record: group.name,
          ...(group.delegatedFrom ? { delegatedFrom: group.delegatedFrom } : {}),
          zone: zone.id,
          values: group.values.length,
        });
      }),
    );
  }

  async waitReady(challenges: readonly Challenge[]): Promise<void> {
    const groups = await this.targets(challenges);
    await Promise.all(
      groups.map(async (group) => {
        const change = this.changes.get(group.name);
        if (change) await this.options.provider.waitForChange(change);
        const zone = await this.zoneFor(group);
        await this.waitVisible(group, zone, await this.resolverFor(zone));
      }),
    );
  }

  async cleanup(challenges: readonly Challenge[]): Promise<void> {
    const errors: CertkeeperError[] = [];
    let groups: TargetGroup[];
    try {
      groups = await this.targets(challenges);
    } catch (err) {
      // Where the values went cannot be found again (the CNAME changed or DNS is down).
      groups = [];
      errors.push(asCertkeeperError(err));
    }
    await Promise.all(
      groups.map(async (group) => {
        this.changes.delete(group.name);
        // The next order looks the CNAME up afresh: it may have changed by then.
        this.cnameTargets.delete(group.delegatedFrom ?? group.name);
        try {
          const zone = await this.zoneFor(group);
          await this.options.provider.deleteTxt(zone, group.name, group.values);
        } catch (err) {
          const error = asCertkeeperError(err);
          errors.push(error);
          this.log.warn(
            'dns-01 cleanup failed; the TXT values stay until removed by hand or a later cleanup',
            {
              record: group.name,
              error: error.message,
            },
          );
        }
      }),
    );
    this.lastCleanupErrors = errors;
  }

  /**
   * The record each group is written at. A `_acme-challenge` name that is a CNAME hands the
   * challenge to the zone at the end of the chain (the usual way to validate a name whose
   * DNS is not in Route53): the CA follows it, and so does this, as the public sees it.
   */
  private async targets(challenges: readonly Challenge[]): Promise<TargetGroup[]> {
    return Promise.all(
      groupByRecord(challenges).map(async (group) => {
        // Looked up once per record by present, and reused by waitReady and cleanup; a
        // cleanup on a solver that presented nothing (after a crash) looks it up again.
        let target = this.cnameTargets.get(group.name);
        if (target === undefined) {
          target = await followCname(this.cnames, group.name, this.log);
          this.cnameTargets.set(group.name, target);
        }
        return target === group.name ? group : { ...group, name: target, delegatedFrom: group.name };
      }),
    );
  }

  private async waitVisible(group: TxtRecordGroup, zone: DnsZone, resolver: TxtResolver): Promise<void> {
    await pollUntil(
      async () => {
        const served = (await resolver.resolveTxt(group.name)).map((strings) => strings.join(''));
        return group.values.every((v) => served.includes(v));
      },
      {
        clock: this.options.clock,
        sleep: this.options.sleep,
        timeoutMs: this.options.propagationTimeoutMs ?? 120_000,
        intervalMs: this.options.pollIntervalMs ?? 2_000,
        what: `TXT ${group.name} on ${resolver.servers.join(', ')}`,
        fix: `check that ${zone.name} is delegated to hosted zone ${zone.id} (NS records at the parent) and that nothing else serves the name`,
      },
    );
  }

  /**
   * The certificate's `hostedZoneId` names its own zone; a delegated record lives in the
   * zone that holds the CNAME's target, found by the longest-suffix lookup.
   */
  private async zoneFor(group: TargetGroup): Promise<DnsZone> {
    const { provider, hostedZoneId } = this.options;
    if (!group.delegatedFrom)
      return hostedZoneId ? provider.getZone(hostedZoneId) : provider.findZone(group.name);
    try {
      return await provider.findZone(group.name);
    } catch (err) {
      throw new ValidationError(
        'identifiers',
        `${group.delegatedFrom} is a CNAME to ${group.name}, which no Route53 hosted zone certkeeper may write holds (${asCertkeeperError(err).message})`,
        `point the CNAME at _acme-challenge.<name> in one of the deployment's hostedZones, or add the target's zone to hostedZones`,
      );
    }
  }

  private async resolverFor(zone: DnsZone): Promise<TxtResolver> {
    const { resolverFor, nameservers, provider } = this.options;
    if (resolverFor) return resolverFor(zone);
    if (nameservers?.length) return new NameserverTxtResolver(nameservers);
    return authoritativeResolver(await provider.nameServers(zone));
  }
}

/** Groups dns-01 challenges by record name, refusing anything that cannot be a dns-01 TXT. */
export function groupByRecord(challenges: readonly Challenge[]): TxtRecordGroup[] {
  const groups = new Map<string, string[]>();
  challenges.forEach((c, i) => {
    const field = `challenges[${i}]`;
    if (c.type !== 'dns-01') {
      throw new ValidationError(
        `${field}.type`,
        `is ${c.type}`,
        'pass dns-01 challenges to the dns-01 solver',
      );
    }
    if (c.identifier.type !== 'dns') {
      throw new ValidationError(
        `${field}.identifier`,
        `${c.identifier.value} is an IP address`,
        'use http-01 for IP identifiers',
      );
    }
    if (!DNS01_VALUE.test(c.value)) {
      throw new ValidationError(
        `${field}.value`,
        'is not a base64url digest',
        'pass the dns-01 key authorization digest',
      );
    }
    const name = dnsChallengeName(c.identifier);
    const values = groups.get(name) ?? [];
    if (!values.includes(c.value)) values.push(c.value);
    groups.set(name, values);
  });
  return [...groups].map(([name, values]) => ({ name, values }));
}

/** Waits for every promise, then rejects with the first failure, if any. */
async function allSettledOrThrow(work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find(
    (r): r is PromiseRejectedResult => r.status === 'rejected',
  );
  if (failed) throw failed.reason;
}
