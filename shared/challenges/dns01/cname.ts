import { asCertkeeperError, ValidationError } from '../../model/errors.js';
import type { Log } from '../../model/log.js';
import type { CnameResolver } from '../../dns/resolver.js';

/** Links followed from `_acme-challenge.<name>` before giving up (a CNAME chain or a loop). */
export const MAX_CNAME_DEPTH = 8;

/**
 * Where the TXT values for `name` (an `_acme-challenge` name) must go: `name` itself, or
 * the end of the CNAME chain that starts there, as the public (and so the CA) sees it. A
 * loop or a chain longer than MAX_CNAME_DEPTH is refused, naming it. A lookup that fails
 * (not one that finds nothing) is logged and treated as no CNAME: a zone of our own must
 * not be blocked by it, and a CA that does see a CNAME will say so.
 */
export async function followCname(resolver: CnameResolver, name: string, log?: Log): Promise<string> {
  const chain = [name];
  for (;;) {
    const at = chain[chain.length - 1]!;
    const next = await resolver.resolveCname(at).catch((err: unknown) => {
      log?.warn('dns-01 CNAME lookup failed; writing the TXT record without following it', {
        record: at,
        servers: resolver.servers.join(', '),
        error: asCertkeeperError(err).message,
      });
      return undefined;
    });
    if (next === undefined) return at;
    if (chain.includes(next)) {
      throw new ValidationError(
        'identifiers',
        `the CNAME chain from ${name} loops (${[...chain, next].join(' -> ')})`,
        `point ${name} at a name in one of the deployment's Route53 zones, once`,
      );
    }
    chain.push(next);
    if (chain.length > MAX_CNAME_DEPTH + 1) {
      throw new ValidationError(
        'identifiers',
        `the CNAME chain from ${name} is longer than ${MAX_CNAME_DEPTH} links (${chain.join(' -> ')})`,
        `point ${name} straight at a name in one of the deployment's Route53 zones`,
      );
    }
  }
}

/**
 * The CNAME an operator creates at a name's own DNS host to hand its dns-01 challenge to
 * `zone` (one of certkeeper's): `_acme-challenge.<name>` to an `_acme-challenge` name in it,
 * which the stack's Route53 grant (TXT records named `_acme-challenge.*`) already covers.
 */
export function delegationRecord(challengeName: string, zone: string): { name: string; target: string } {
  const label = challengeName.replace(/^_acme-challenge\./, '').replace(/\./g, '-');
  return { name: challengeName, target: `_acme-challenge.${label}.${zone}` };
}
