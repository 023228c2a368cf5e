import { lookup, Resolver } from 'node:dns/promises';
import { UnreachableError } from '../model/errors.js';

/** One CAA record (RFC 8659 §4.1). */
export interface CaaRecord {
  /** Bit 128 is the issuer-critical flag (RFC 8659 §4.1). */
  flags: number;
  tag: string;
  value: string;
}

/** Port: the CAA RRset at exactly one name, [] when it has none. Throws when DNS failed. */
export interface CaaResolver {
  resolveCaa(name: string): Promise<CaaRecord[]>;
}

/** Port: asks DNS for the TXT records at a name; each record as its character-strings. */
export interface TxtResolver {
  /** What is being asked, for messages: "127.0.0.1:5353". */
  readonly servers: readonly string[];
  /** [] when the name or the type has no records. */
  resolveTxt(fqdn: string): Promise<string[][]>;
}

/** Port: asks DNS where a name is an alias (CNAME) of; undefined when it is not one. */
export interface CnameResolver {
  readonly servers: readonly string[];
  resolveCname(fqdn: string): Promise<string | undefined>;
}

/** Answers that mean "nothing there (yet)" rather than a failed query. */
const EMPTY_ANSWER = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * Queries the given servers directly ("192.0.2.1", "127.0.0.1:5353", "[2001:db8::1]:53"),
 * not the system resolver, so that no cache between us and the zone hides a fresh record.
 */
export class NameserverTxtResolver implements TxtResolver, CnameResolver, CaaResolver {
  private readonly resolver: Resolver;
  readonly servers: readonly string[];

  /** No servers: the system's resolvers (what the CA's public view looks like from here). */
  constructor(servers: readonly string[] = [], options: { timeoutMs?: number; tries?: number } = {}) {
    this.resolver = new Resolver({ timeout: options.timeoutMs ?? 3_000, tries: options.tries ?? 2 });
    if (servers.length > 0) this.resolver.setServers([...servers]);
    this.servers = this.resolver.getServers();
  }

  async resolveCname(fqdn: string): Promise<string | undefined> {
    try {
      const [target] = await this.resolver.resolveCname(fqdn);
      return target?.replace(/\.$/, '').toLowerCase();
    } catch (err) {
      if (EMPTY_ANSWER.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw err;
    }
  }

  async resolveCaa(fqdn: string): Promise<CaaRecord[]> {
    try {
      // Node gives each record as { critical, <tag>: value }.
      return (await this.resolver.resolveCaa(fqdn)).flatMap((record) => {
        const { critical, ...rest } = record as unknown as Record<string, string | number>;
        return Object.entries(rest).map(([tag, value]) => ({
          flags: Number(critical),
          tag,
          value: String(value),
        }));
      });
    } catch (err) {
      if (EMPTY_ANSWER.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  }

  async resolveTxt(fqdn: string): Promise<string[][]> {
    try {
      return await this.resolver.resolveTxt(fqdn);
    } catch (err) {
      if (EMPTY_ANSWER.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  }
}

/** A resolver for a zone's authoritative servers, given their host names (from the provider). */
export async function authoritativeResolver(nameServerHosts: readonly string[]): Promise<TxtResolver> {
  // One unresolvable name server should not stop the check; the others answer for the zone.
  const lookups = await Promise.allSettled(nameServerHosts.map((host) => lookup(host, { all: true })));
  const addresses = lookups.flatMap((r) => (r.status === 'fulfilled' ? r.value.map((a) => a.address) : []));
  if (addresses.length === 0) {
    const failed = lookups.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw new UnreachableError(
      `could not resolve the addresses of the zone's name servers (${nameServerHosts.join(', ')})`,
      'check outbound DNS from where certkeeper runs, or configure explicit nameservers for the propagation check',
      failed?.reason,
    );
  }
  return new NameserverTxtResolver([...new Set(addresses)]);
}
