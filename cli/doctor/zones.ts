import { ListResourceRecordSetsCommand, type Route53Client } from '@aws-sdk/client-route-53';
import { callAws } from '../../shared/aws/errors.js';
import type { DnsZone } from '../../shared/challenges/dns01/provider.js';
import type { Route53DnsProvider } from '../../shared/challenges/dns01/route53.js';
import { dnsChallengeName } from '../../shared/model/identifiers.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import { asCertkeeperError, CertkeeperError } from '../../shared/model/errors.js';
import { delegationRecord, followCname } from '../../shared/challenges/dns01/cname.js';
import type { CnameResolver } from '../../shared/dns/resolver.js';
import type { CheckSpec } from './check.js';

export interface ZoneAccess {
  /** The issuer's provider, so the zone is chosen exactly as a renewal would choose it. */
  provider: Route53DnsProvider;
  /** The client that reaches a zone: the role's for zones in other accounts. */
  clientFor(zoneId: string): Route53Client;
  /** Where `_acme-challenge` CNAMEs are looked up, as the issuer does (its resolvers). */
  cnames: CnameResolver;
  /** A public zone certkeeper may write, to name in the CNAME an operator could create. */
  delegationZone(): Promise<string | undefined>;
}

/**
 * One check per dns-01 certificate: every name finds its hosted zone the way the solver
 * does (a CNAME at `_acme-challenge.<name>` followed to the zone of its end; else the
 * spec's hostedZoneId, else the longest public suffix), and the zone's records can be
 * listed, which is the first call of every TXT change. A name with no zone gets the exact
 * CNAME to create at its DNS host. Writing is not tried: a doctor that changes DNS is not
 * one people run lightly.
 */
export function certificateZoneCheck(access: ZoneAccess, spec: CertificateSpec): CheckSpec {
  const names = spec.identifiers.filter((i) => i.type === 'dns');
  return zoneCheck(
    access,
    `hosted-zone:${spec.name}`,
    `certificate ${spec.name}`,
    names.map((i) => ({ label: i.value, recordName: dnsChallengeName(i) })),
    spec.hostedZoneId,
  );
}

/** `--zone example.org`: the same check for a domain no certificate names yet. */
export function domainZoneCheck(access: ZoneAccess, domain: string): CheckSpec {
  const name = domain.replace(/^\*\./, '');
  return zoneCheck(access, `hosted-zone:${domain}`, `domain ${domain}`, [
    { label: domain, recordName: `_acme-challenge.${name}` },
  ]);
}

function zoneCheck(
  access: ZoneAccess,
  id: string,
  subject: string,
  names: { label: string; recordName: string }[],
  hostedZoneId?: string,
): CheckSpec {
  return {
    id,
    timeoutFix: 'check the Route53 endpoint and network access to it',
    async run() {
      const zones = new Map<string, DnsZone>();
      const placed: string[] = [];
      for (const { label, recordName } of names) {
        const target = await followCname(access.cnames, recordName);
        let zone: DnsZone;
        try {
          zone =
            target !== recordName
              ? await access.provider.findZone(target)
              : hostedZoneId
                ? await access.provider.getZone(hostedZoneId)
                : await access.provider.findZone(recordName);
        } catch (err) {
          throw await zoneMissing(access, subject, recordName, target, err);
        }
        zones.set(zone.id, zone);
        placed.push(
          target === recordName
            ? `${label} → ${zone.id} (${zone.name})`
            : `${label} → CNAME ${target} → ${zone.id} (${zone.name})`,
        );
      }
      for (const zone of zones.values()) {
        const client = access.clientFor(zone.id);
        await callAws(
          {
            service: 'Route53',
            operation: 'ListResourceRecordSets',
            resource: `hosted zone ${zone.id} (${zone.name})`,
            client,
          },
          () => client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zone.id, MaxItems: 1 })),
        );
      }
      return { status: 'ok', message: `${subject}: ${placed.join(', ')}; records listable` };
    },
  };
}

/**
 * The provider's error, with the certificate named (the operator needs it) and, for a name
 * whose DNS is elsewhere, the one CNAME that would hand its challenge to certkeeper.
 */
async function zoneMissing(
  access: ZoneAccess,
  subject: string,
  recordName: string,
  target: string,
  err: unknown,
): Promise<CertkeeperError> {
  const error = asCertkeeperError(err);
  const zone = await access.delegationZone().catch(() => undefined);
  const record = zone ? delegationRecord(recordName, zone) : undefined;
  const cname = record ? `${record.name} CNAME ${record.target}` : undefined;
  if (target !== recordName) {
    return new CertkeeperError(
      'validation',
      `${subject}: ${recordName} is a CNAME to ${target}, which no Route53 hosted zone certkeeper may write holds`,
      {
        fix: cname
          ? `point it into a zone certkeeper writes, e.g. ${cname}`
          : 'point it into a hosted zone certkeeper writes',
      },
    );
  }
  return new CertkeeperError(error.code, `${subject}: ${error.message}`, {
    retryable: error.retryable,
    fix: cname
      ? `${error.fix ?? ''}; or, to keep its DNS where it is, create at its DNS host: ${cname}`
      : error.fix,
    cause: err,
  });
}
