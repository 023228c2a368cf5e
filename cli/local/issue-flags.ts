/**
 * The flags of `certkeeper issue`, checked: every one, and the files they name, before the
 * flow (issue.ts) writes or asks anything, so a usage error leaves DIR as it was (exit 2).
 */
import { isIP } from 'node:net';
import { ValidationError } from '../../shared/model/errors.js';
import { type Identifier, isWildcard, parseIdentifier } from '../../shared/model/identifiers.js';
import { KEY_TYPES, type KeyType } from '../../shared/model/key-types.js';
import { IP_PROFILE, NAME_PATTERN } from '../../shared/model/spec.js';
import { WELL_KNOWN_CA_NAMES, caDirectoryUrl } from '../directory-url.js';
import { readCaFile } from './ca-trust.js';
import { checkListen } from './listen-flags.js';
import type { LocalSettings } from './settings.js';
import { absolute } from './shell.js';
import { readCsr } from './csr.js';
import { checkWebroot } from '../../shared/challenges/http01/webroot.js';

export interface LocalIssueOptions {
  out: string;
  /** --directory-url (or its old spelling --directory), unresolved. */
  directory: string | undefined;
  email?: string;
  /** --fallback-directory-url: further CAs in order, unresolved. */
  fallbackDirectoryUrl?: string[];
  ip?: string[];
  domain?: string[];
  http01Listen?: string;
  http01ListenRetry?: string;
  /** Answer HTTP-01 through a running web server: tokens go under DIR/.well-known/acme-challenge/. */
  http01Webroot?: string;
  tlsAlpn01Listen?: string;
  dns?: string;
  profile?: string;
  keyType?: string;
  caFile?: string;
  name?: string;
  json?: boolean;
  /** Order a new certificate even when the current one is valid and names the same identifiers. */
  force?: boolean;
  /** Run before the responder starts (e.g. stop what holds port 80); a failure stops the issue. */
  preHook?: string;
  /** Run after the order ends, whatever happened, once the pre-hook has run. */
  postHook?: string;
  /** Certify this PKCS#10 request (PEM file) instead of a key certkeeper makes; see csr.ts. */
  csr?: string;
}

/** What the flags ask for, checked. */
export interface IssueRequest {
  name: string;
  identifiers: Identifier[];
  /** What `renew --out` reuses, saved once an issue worked. */
  settings: LocalSettings;
  caPem: string | undefined;
  profile: string | undefined;
  /** Why a profile was chosen for the user, to print before ordering. */
  profileNote: string | undefined;
  keyType: KeyType | undefined;
  /** --csr: the request to certify (its path and PEM) instead of a key certkeeper makes. */
  csr: { path: string; pem: string } | undefined;
}

/** Checks every flag; throws a ValidationError naming the flag and the fix. */
export async function checkIssueFlags(options: LocalIssueOptions): Promise<IssueRequest> {
  let csr: IssueRequest['csr'];
  if (options.csr !== undefined) {
    // The identifiers are the request's; the key is the user's.
    for (const [flag, value] of [
      ['--ip', options.ip],
      ['--domain', options.domain],
      ['--key-type', options.keyType],
    ] as const) {
      if (value !== undefined) {
        throw new ValidationError(
          flag,
          'cannot be combined with --csr',
          `drop ${flag}: the CSR names the identifiers and holds the public key`,
        );
      }
    }
    const read = readCsr(options.csr);
    csr = { path: absolute(options.csr), pem: read.pem };
    options = { ...options, ip: read.ips, domain: read.domains };
  }
  const checked = checkFlags(options);
  if (options.http01Webroot !== undefined) await checkWebroot(options.http01Webroot);
  return { ...checked, csr };
}

function checkFlags(options: LocalIssueOptions): Omit<IssueRequest, 'csr'> {
  if (options.directory === undefined) {
    throw new ValidationError(
      '--directory-url',
      'no CA given',
      `pass --directory-url ${WELL_KNOWN_CA_NAMES.replace(' / ', ', ')} or the CA's ACME directory URL`,
    );
  }
  const directory = caDirectoryUrl(options.directory);
  const fallbackDirectories = (options.fallbackDirectoryUrl ?? []).map((url) =>
    caDirectoryUrl(url, '--fallback-directory-url'),
  );
  if (fallbackDirectories.length > 0 && !options.email) {
    throw new ValidationError(
      '--email',
      'is missing, and --fallback-directory-url names more CAs',
      'give --email ops@example.com: each CA of a fallback list gets it as its account contact (RFC 8555 §7.3)',
    );
  }
  const ips = (options.ip ?? []).map((raw) => {
    // Checked as an address first, so "nope" is called not an IP rather than a bad DNS name.
    if (isIP(raw.replace(/^\[|\]$/g, '')) === 0) {
      throw new ValidationError('--ip', `"${raw}" is not an IP address`, 'use --domain for DNS names');
    }
    return parseIdentifier(raw, '--ip');
  });
  const domains = (options.domain ?? []).map((raw) => {
    const id = parseIdentifier(raw, '--domain');
    if (id.type !== 'dns')
      throw new ValidationError('--domain', `"${raw}" is an IP address`, 'use --ip for IP addresses');
    return id;
  });
  const identifiers = [...ips, ...domains];
  if (identifiers.length === 0) {
    throw new ValidationError(
      '--ip/--domain',
      'no identifier given',
      'name what the certificate is for: --ip 203.0.113.10 or --domain example.com (repeatable)',
    );
  }
  const challenges = (
    [
      ['--http01-listen', options.http01Listen],
      ['--http01-webroot', options.http01Webroot],
      ['--tls-alpn01-listen', options.tlsAlpn01Listen],
      ['--dns', options.dns],
    ] as const
  ).filter(([, value]) => value !== undefined);
  if (challenges.length === 0) {
    throw new ValidationError(
      '--http01-listen/--http01-webroot/--tls-alpn01-listen/--dns',
      'no challenge given',
      'pass --http01-listen 0.0.0.0:80 (HTTP-01, built-in responder), --http01-webroot /var/www/html (HTTP-01 through your web server), --tls-alpn01-listen 0.0.0.0:443 (TLS-ALPN-01, built-in responder) or --dns route53 (DNS-01)',
    );
  }
  if (challenges.length > 1) {
    throw new ValidationError(
      challenges[1]![0],
      `both ${challenges[0]![0]} and ${challenges[1]![0]} were given`,
      'choose one way to answer the challenge',
    );
  }
  if (options.http01Listen !== undefined) checkListen(options.http01Listen);
  if (options.tlsAlpn01Listen !== undefined) checkListen(options.tlsAlpn01Listen, '--tls-alpn01-listen');
  if (options.dns !== undefined && options.dns !== 'route53') {
    throw new ValidationError(
      '--dns',
      `"${options.dns}" is not a supported DNS provider`,
      'use --dns route53',
    );
  }
  if (options.dns && ips.length > 0) {
    throw new ValidationError(
      '--dns',
      'dns-01 cannot validate an IP address (RFC 8738 §7)',
      'use --http01-listen or --tls-alpn01-listen for certificates that name an IP address',
    );
  }
  const wildcard = identifiers.find(isWildcard);
  if (wildcard && options.dns === undefined) {
    throw new ValidationError(
      challenges[0]![0],
      `the wildcard ${wildcard.value} can only be validated by dns-01${
        options.tlsAlpn01Listen !== undefined ? ' (RFC 8737 §3 forbids tls-alpn-01 for wildcards)' : ''
      }`,
      'use --dns route53, or list the exact names',
    );
  }
  if (options.keyType !== undefined && !(KEY_TYPES as readonly string[]).includes(options.keyType)) {
    throw new ValidationError(
      '--key-type',
      `"${options.keyType}" is not a key type`,
      `use one of: ${KEY_TYPES.join(', ')}`,
    );
  }
  const name = options.name ?? defaultName(identifiers[0]!);
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError(
      '--name',
      `"${name}" is not a certificate name`,
      'use 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  const retrySeconds = options.http01ListenRetry === undefined ? 0 : Number(options.http01ListenRetry);
  if (!Number.isFinite(retrySeconds) || retrySeconds < 0) {
    throw new ValidationError(
      '--http01-listen-retry',
      `"${options.http01ListenRetry}" is not a number of seconds`,
      'e.g. --http01-listen-retry 60',
    );
  }
  if (options.email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(options.email)) {
    throw new ValidationError(
      '--email',
      `"${options.email}" is not an email address`,
      'give the contact address for the ACME account',
    );
  }
  const caPem = readCaFile(options.caFile);
  const profile = options.profile ?? (ips.length > 0 ? IP_PROFILE : undefined);
  return {
    name,
    identifiers,
    caPem,
    profile,
    profileNote:
      options.profile === undefined && ips.length > 0
        ? `profile ${IP_PROFILE}: the certificate names an IP address, which CAs issue only on short-lived certificates (pass --profile to choose another)`
        : undefined,
    keyType: options.keyType as KeyType | undefined,
    settings: {
      version: 1,
      directory,
      ...(fallbackDirectories.length > 0 ? { fallbackDirectories } : {}),
      ...(options.email ? { email: options.email } : {}),
      ...(options.caFile ? { caFile: absolute(options.caFile) } : {}),
      ...(options.http01Listen !== undefined ? { http01Listen: options.http01Listen } : {}),
      ...(retrySeconds > 0 ? { http01ListenRetry: retrySeconds } : {}),
      ...(options.http01Webroot !== undefined ? { http01Webroot: absolute(options.http01Webroot) } : {}),
      ...(options.tlsAlpn01Listen !== undefined ? { tlsAlpn01Listen: options.tlsAlpn01Listen } : {}),
      ...(options.dns ? { dns: 'route53' as const } : {}),
      // Saved for `renew --out`, which runs them around its orders (hooks.ts), as certbot does.
      ...(options.preHook ? { preHook: options.preHook } : {}),
      ...(options.postHook ? { postHook: options.postHook } : {}),
    },
  };
}

/**
 * "127.0.0.1", "2001-db8--1", "wildcard.example.com", "ipv6--1" (for ::1): a valid name from
 * the first identifier. A name starts with a letter or digit, which "::1" as "--1" would not.
 */
export function defaultName(first: Identifier): string {
  const name = first.value
    .toLowerCase()
    .replace(/^\*\./, 'wildcard.')
    .replace(/[^a-z0-9._-]/g, '-');
  return (/^[a-z0-9]/.test(name) ? name : `ipv6${name}`).slice(0, 63);
}
