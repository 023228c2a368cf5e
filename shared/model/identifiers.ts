import { isIP } from 'node:net';
import { ValidationError } from './errors.js';

/** An RFC 8555 §9.7.7 identifier; `ip` identifiers follow RFC 8738. */
export type Identifier = { type: 'dns'; value: string } | { type: 'ip'; value: string };

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Parses one identifier as written by an operator ("203.0.113.10", "2001:db8::1",
 * "example.com", "*.example.com") and refuses anything a CA would reject, naming the field.
 * IPs must already be canonical (RFC 8738 §3 points at RFC 5952 for IPv6): we refuse
 * rather than silently rewrite, so the stored spec matches what the operator typed.
 */
export function parseIdentifier(raw: string, field = 'identifier'): Identifier {
  const value = raw.trim();
  if (value === '') throw new ValidationError(field, 'is empty', 'give a DNS name or an IP address');
  if (value.includes('%')) {
    throw new ValidationError(
      field,
      `"${value}" has an IPv6 zone`,
      'remove the %zone suffix; certificates name global addresses only',
    );
  }
  const ipVersion = isIP(value.replace(/^\[|\]$/g, ''));
  if (ipVersion !== 0) {
    const bare = value.replace(/^\[|\]$/g, '');
    const canonical = canonicalIp(bare, ipVersion);
    if (canonical !== bare) {
      throw new ValidationError(
        field,
        `"${value}" is not a canonical IP address`,
        `write it as ${canonical} (RFC 5952 form: lower case, no leading zeros, longest zero run as ::)`,
      );
    }
    return { type: 'ip', value: canonical };
  }
  return { type: 'dns', value: parseDnsName(value, field) };
}

export function parseIdentifiers(raw: readonly string[], field = 'identifiers'): Identifier[] {
  if (raw.length === 0)
    throw new ValidationError(field, 'is empty', 'list at least one DNS name or IP address');
  const seen = new Set<string>();
  const out: Identifier[] = [];
  raw.forEach((r, i) => {
    const id = parseIdentifier(r, `${field}[${i}]`);
    if (seen.has(id.value)) {
      throw new ValidationError(
        `${field}[${i}]`,
        `"${id.value}" is listed twice`,
        'list each identifier once',
      );
    }
    seen.add(id.value);
    out.push(id);
  });
  return out;
}

function canonicalIp(bare: string, version: number): string {
  if (version === 4)
    return bare
      .split('.')
      .map((o) => String(Number(o)))
      .join('.');
  // The WHATWG URL serializer writes IPv6 hosts in RFC 5952 canonical form.
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
}

function parseDnsName(value: string, field: string): string {
  const name = value.toLowerCase().replace(/\.$/, '');
  const fail = (problem: string): never => {
    throw new ValidationError(
      field,
      `"${value}" is not a valid DNS name: ${problem}`,
      'use letters, digits and hyphens in dot-separated labels (e.g. www.example.com or *.example.com)',
    );
  };
  if (name.length > 253) fail('longer than 253 characters');
  const labels = name.split('.');
  if (labels.length < 2) fail('it needs at least two labels');
  labels.forEach((label, i) => {
    if (label === '*') {
      if (i !== 0) fail('a wildcard may only be the leftmost label');
      return;
    }
    if (!LABEL.test(label)) fail(`label "${label}" is not 1-63 letters, digits or inner hyphens`);
  });
  if (labels[labels.length - 1] === '*' || /^\d+$/.test(labels[labels.length - 1] ?? '')) {
    fail('the last label cannot be numeric or a wildcard');
  }
  return name;
}

export const isWildcard = (id: Identifier): boolean => id.type === 'dns' && id.value.startsWith('*.');

/** The name a DNS-01 TXT record lives at (RFC 8555 §8.4): the wildcard label is dropped. */
export function dnsChallengeName(id: Identifier): string {
  return `_acme-challenge.${id.value.replace(/^\*\./, '')}`;
}

export const identifierValues = (ids: readonly Identifier[]): string[] => ids.map((i) => i.value);
