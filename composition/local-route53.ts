/**
 * `--dns route53` in local mode: Route53 with the user's own credentials and region (the
 * SDK's default chain), its client loaded on the first DNS call. Most local certificates use
 * HTTP-01, and the Route53 client with the AWS SDK core under it is the largest part of the
 * code `issue` and `renew` would otherwise load on every run.
 */
import type { DnsProvider, DnsZone } from '../shared/challenges/dns01/provider.js';

export function route53Provider(): DnsProvider {
  let loaded: Promise<DnsProvider> | undefined;
  const provider = (): Promise<DnsProvider> =>
    (loaded ??= Promise.all([
      import('@aws-sdk/client-route-53'),
      import('../shared/challenges/dns01/route53.js'),
    ]).then(([{ Route53Client }, { Route53DnsProvider }]) => new Route53DnsProvider(new Route53Client({}))));
  return {
    findZone: async (fqdn: string) => (await provider()).findZone(fqdn),
    getZone: async (id: string) => (await provider()).getZone(id),
    nameServers: async (zone: DnsZone) => (await provider()).nameServers(zone),
    upsertTxt: async (zone: DnsZone, fqdn: string, values: readonly string[]) =>
      (await provider()).upsertTxt(zone, fqdn, values),
    deleteTxt: async (zone: DnsZone, fqdn: string, values: readonly string[]) =>
      (await provider()).deleteTxt(zone, fqdn, values),
    waitForChange: async (changeId: string) => (await provider()).waitForChange(changeId),
  };
}
