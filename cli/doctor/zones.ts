import { ListResourceRecordSetsCommand, type Route53Client } from '@aws-sdk/client-route-53';
import { callAws } from '../../shared/aws/errors.js';
import type { DnsZone } from '../../shared/challenges/dns01/provider.js';
import type { Route53DnsProvider } from '../../shared/challenges/dns01/route53.js';
import { dnsChallengeName } from '../../shared/model/identifiers.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import type { CheckSpec } from './check.js';

export interface ZoneAccess {
  /** The issuer's provider, so the zone is chosen exactly as a renewal would choose it. */
  provider: Route53DnsProvider;
  /** The client that reaches a zone: the role's for zones in other accounts. */
  clientFor(zoneId: string): Route53Client;
}

/**
 * One check per dns-01 certificate: every name finds its hosted zone the way the solver
 * does (the spec's hostedZoneId, else the longest public suffix), and the zone's records
 * can be listed, which is the first call of every TXT change. Writing is not tried: a
 * doctor that changes DNS is not one people run lightly.
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
        let zone: DnsZone;
        try {
          zone = hostedZoneId
            ? await access.provider.getZone(hostedZoneId)
            : await access.provider.findZone(recordName);
        } catch (err) {
          // The provider's message names the domain; the operator also needs the certificate.
          if (err instanceof Error) err.message = `${subject}: ${err.message}`;
          throw err;
        }
        zones.set(zone.id, zone);
        placed.push(`${label} → ${zone.id} (${zone.name})`);
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
