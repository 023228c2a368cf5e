import type { CaaRecord, CaaResolver } from '../dns/resolver.js';
import type { Identifier } from '../model/identifiers.js';

/**
 * CAA (RFC 8659, RFC 8657): which CAs the owners of the names allow. A CA checks it before
 * issuing and refuses when it is not named; reading it first lets a renewal skip a CA that
 * would refuse, and say so, instead of spending an attempt (and a fallback) on it. The
 * records come through the CaaResolver port (dns/resolver.ts).
 */

/** The RRset that governs a name, and where it was found (RFC 8659 §3). */
export interface RelevantCaa {
  at: string;
  records: CaaRecord[];
}

const KNOWN_TAGS = new Set(['issue', 'issuewild', 'iodef', 'contactemail', 'contactphone']);

/**
 * RFC 8659 §3: the relevant RRset is the first non-empty one at the name or, climbing, at
 * its parents (the root excluded). Aliases are followed by the resolver. Undefined: no CAA
 * anywhere, so every CA may issue.
 */
export async function relevantCaa(resolver: CaaResolver, name: string): Promise<RelevantCaa | undefined> {
  const labels = name.replace(/\.$/, '').toLowerCase().split('.');
  for (let i = 0; i < labels.length; i++) {
    const at = labels.slice(i).join('.');
    const records = await resolver.resolveCaa(at);
    if (records.length > 0) return { at, records };
  }
  return undefined;
}

/** An `issue` / `issuewild` value: the issuer's domain and its parameters (RFC 8659 §4.2). */
function parseIssueValue(value: string): { domain: string; params: Map<string, string> } {
  const [domain = '', ...rest] = value.split(';');
  const params = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return { domain: domain.trim().toLowerCase(), params };
}

export interface CaaQuestion {
  /** The CA's issuer domain names (RFC 8659 §4.2), e.g. letsencrypt.org. */
  identities: readonly string[];
  /** A wildcard name is governed by `issuewild` when the set has any (RFC 8659 §4.3). */
  wildcard: boolean;
  /** RFC 8657 §4: a `validationmethods` parameter restricts the challenge types. */
  challenge: string;
  /**
   * RFC 8657 §3: an `accounturi` parameter restricts issuance to that ACME account. Our
   * account's URL, or undefined when it is not known (then the CA judges it, not us).
   */
  accountUri?: string | undefined;
}

type CaaRefusalOptions = Omit<CaaQuestion, 'accountUri'>;

/** The issue/issuewild properties that govern the question, and those naming this CA. */
function propertiesFor(set: RelevantCaa, question: CaaRefusalOptions) {
  const wild = set.records.filter((r) => r.tag.toLowerCase() === 'issuewild');
  const relevant =
    question.wildcard && wild.length > 0 ? wild : set.records.filter((r) => r.tag.toLowerCase() === 'issue');
  const identities = question.identities.map((id) => id.toLowerCase());
  const ours = relevant
    .map((record) => ({ record, ...parseIssueValue(record.value) }))
    .filter((n) => identities.includes(n.domain));
  return { relevant, ours };
}

/**
 * Whether a property naming this CA binds it to an account (RFC 8657 §3), so the caller
 * must look up its account URL before asking caaRefusal: only then, since finding it may
 * mean registering the account.
 */
export function caaNamesAccount(set: RelevantCaa, question: CaaRefusalOptions): boolean {
  return propertiesFor(set, question).ours.some((n) => n.params.has('accounturi'));
}

/** Why the set forbids this CA, or undefined when it permits it. */
export function caaRefusal(set: RelevantCaa, question: CaaQuestion): string | undefined {
  const unknownCritical = set.records.find(
    (r) => (r.flags & 128) !== 0 && !KNOWN_TAGS.has(r.tag.toLowerCase()),
  );
  if (unknownCritical) {
    return `${set.at} has a critical CAA property "${unknownCritical.tag}" no CA may ignore (RFC 8659 §4.1)`;
  }
  const { relevant, ours } = propertiesFor(set, question);
  if (relevant.length === 0) return undefined;
  const shown = relevant.map((r) => `${r.tag} "${r.value}"`).join(', ');
  if (ours.length === 0) return `CAA at ${set.at} allows only ${shown}`;
  // One property that allows both the method and the account is enough (RFC 8657 §3, §4).
  const methodOk = ours.filter((n) => {
    const methods = n.params.get('validationmethods');
    return (
      methods === undefined ||
      methods
        .split(',')
        .map((m) => m.trim())
        .includes(question.challenge)
    );
  });
  if (methodOk.length === 0) {
    return `CAA at ${set.at} allows this CA only by other validation methods (${shown})`;
  }
  const accountOk = methodOk.some((n) => {
    const bound = n.params.get('accounturi');
    return bound === undefined || question.accountUri === undefined || bound === question.accountUri;
  });
  return accountOk
    ? undefined
    : `CAA at ${set.at} allows this CA only for another ACME account (${shown}); this account is ${question.accountUri}`;
}

/** Names CAA applies to: DNS names only (RFC 8738 §7: IP addresses have no CAA). */
export function caaNames(identifiers: readonly Identifier[]): { name: string; wildcard: boolean }[] {
  return identifiers
    .filter((id) => id.type === 'dns')
    .map((id) => ({ name: id.value.replace(/^\*\./, ''), wildcard: id.value.startsWith('*.') }));
}
