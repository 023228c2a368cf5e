/** A DNS zone a provider can write to. `name` is lower case without the trailing dot. */
export interface DnsZone {
  id: string;
  name: string;
}

/**
 * Port: the few things DNS-01 needs from a DNS host. TXT writes are per value, never per
 * record set: the apex and the wildcard of one name (and other certificates) share
 * `_acme-challenge.<name>`, so a writer must keep the values it did not put there.
 */
export interface DnsProvider {
  /** The zone that holds `fqdn`: the longest zone name that is a suffix of it. */
  findZone(fqdn: string): Promise<DnsZone>;
  /** The zone with this id (an operator's explicit choice). */
  getZone(id: string): Promise<DnsZone>;
  /** Host names of the zone's authoritative servers, for the propagation check. */
  nameServers(zone: DnsZone): Promise<string[]>;
  /**
   * Adds `values` to the TXT record set at `fqdn`, keeping the values already there.
   * Returns a change id to wait for, or undefined when nothing had to change.
   */
  upsertTxt(zone: DnsZone, fqdn: string, values: readonly string[]): Promise<string | undefined>;
  /** Removes only `values`; the record set goes when no value is left. Idempotent. */
  deleteTxt(zone: DnsZone, fqdn: string, values: readonly string[]): Promise<string | undefined>;
  /** Resolves when the provider reports the change live on all its servers (bounded). */
  waitForChange(changeId: string): Promise<void>;
}

/** DNS names compare case-insensitively, and APIs disagree on the trailing dot. */
export const normalizeDnsName = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** True when `fqdn` is `zone` or lies below it. */
export const isInZone = (fqdn: string, zone: string): boolean => fqdn === zone || fqdn.endsWith(`.${zone}`);
