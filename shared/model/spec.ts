import * as z from 'zod';
import { type DeliverySpec, parseAcmRegions, parseProbeEndpoint, probeEndpointInput } from './delivery.js';
import { ValidationError } from './errors.js';
import { type Identifier, isWildcard, parseIdentifiers } from './identifiers.js';
import { zodToValidationError } from './json.js';
import { DEFAULT_KEY_TYPE, KEY_TYPES, type KeyType } from './key-types.js';
import { type Labels, labelsInput, parseLabels } from './labels.js';

export const CHALLENGE_TYPES = ['dns-01', 'http-01', 'tls-alpn-01'] as const;
export type ChallengeType = (typeof CHALLENGE_TYPES)[number];

/** Let's Encrypt issues IP certificates only on this profile. */
export const IP_PROFILE = 'shortlived';

/** What an operator declares about one certificate. */
export interface CertificateSpec {
  name: string;
  identifiers: Identifier[];
  challenge: ChallengeType;
  /** ACME profile (draft-ietf-acme-profiles); undefined lets the CA choose its default. */
  profile: string | undefined;
  keyType: KeyType;
  /** Route53 hosted zone id, when the longest-suffix lookup should be bypassed. */
  hostedZoneId: string | undefined;
  /** Renew when this much time is left, e.g. "72h" (overrides the default policy). */
  renewBefore: string | undefined;
  /** Renew when this percentage of the lifetime is left (overrides the default policy). */
  renewBeforePercentage: number | undefined;
  /**
   * Where the certificate is delivered besides the bucket (agents, probed endpoints, ACM
   * regions), for the fleet view; absent when nothing is declared. Changing it never
   * reissues the certificate.
   */
  delivery?: DeliverySpec;
  /**
   * What agents select it by (`{"role": "edge"}`), besides its name; absent when none.
   * Like delivery, changing labels never reissues the certificate.
   */
  labels?: Labels;
}

/**
 * The most identifiers Let's Encrypt puts in one certificate: 100 in general, 25 on the
 * `shortlived` and `tlsserver` profiles (https://letsencrypt.org/docs/profiles/). A CA
 * refuses a larger order only at newOrder; declaring one would fail every renewal.
 */
export const MAX_IDENTIFIERS = 100;
export const MAX_IDENTIFIERS_BY_PROFILE: Readonly<Record<string, number>> = { shortlived: 25, tlsserver: 25 };

/** The identifier limit for a profile (undefined: the CA's default profile). */
export const identifierLimit = (profile: string | undefined): number =>
  (profile !== undefined ? MAX_IDENTIFIERS_BY_PROFILE[profile] : undefined) ?? MAX_IDENTIFIERS;

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const DURATION = /^(\d+)(s|m|h|d)$/;

/** The input form, as written in certkeeper.config.json or given to the CLI. */
export const certificateSpecInput = z.object({
  name: z
    .string()
    .regex(
      NAME_PATTERN,
      'must be 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    ),
  identifiers: z.array(z.string()).min(1, 'list at least one DNS name or IP address'),
  challenge: z.enum(CHALLENGE_TYPES).optional(),
  profile: z.string().min(1).optional(),
  keyType: z.enum(KEY_TYPES).optional(),
  hostedZoneId: z.string().min(1).optional(),
  renewBefore: z.string().regex(DURATION, 'must be a number followed by s, m, h or d, e.g. "72h"').optional(),
  renewBeforePercentage: z.number().gt(0).lt(100).optional(),
  /** TLS endpoints that serve this certificate, read by the fleet probe. */
  probes: z.array(probeEndpointInput).optional(),
  /** ACM regions to import the certificate into after each issuance. */
  acmRegions: z.array(z.string()).optional(),
  /** Labels agents select certificates by, e.g. {"role": "edge"}. */
  labels: labelsInput.optional(),
});
export type CertificateSpecInput = z.input<typeof certificateSpecInput>;

/**
 * Validates an operator's declaration and fills the defaults: http-01 (tls-alpn-01 when
 * asked for) and the `shortlived` profile when an IP is present (the only way Let's Encrypt issues IP certificates),
 * dns-01 otherwise. Every error names the field and the fix.
 */
export function parseCertificateSpec(input: unknown, field = 'certificate'): CertificateSpec {
  const parsed = certificateSpecInput.safeParse(input);
  if (!parsed.success) throw zodToValidationError(parsed.error, field);
  const raw = parsed.data;
  const identifiers = parseIdentifiers(raw.identifiers, `${field}.identifiers`);
  const hasIp = identifiers.some((i) => i.type === 'ip');
  const challenge: ChallengeType = raw.challenge ?? (hasIp ? 'http-01' : 'dns-01');

  if (hasIp && challenge === 'dns-01') {
    throw new ValidationError(
      `${field}.challenge`,
      'dns-01 cannot validate an IP address (RFC 8738 §7)',
      'use "http-01" or "tls-alpn-01" for certificates that name an IP address',
    );
  }
  const wildcard = identifiers.find(isWildcard);
  if (wildcard && challenge === 'tls-alpn-01') {
    throw new ValidationError(
      `${field}.challenge`,
      `tls-alpn-01 cannot validate the wildcard ${wildcard.value} (RFC 8737 §3 forbids it)`,
      'use "dns-01" for wildcard certificates, or list the exact names instead of a wildcard',
    );
  }
  if (wildcard && challenge === 'http-01') {
    throw new ValidationError(
      `${field}.challenge`,
      `the wildcard ${wildcard.value} can only be validated by dns-01 (RFC 8555 §7.1.3)`,
      'use "dns-01", or list the exact names instead of a wildcard',
    );
  }
  if (raw.renewBefore !== undefined && raw.renewBeforePercentage !== undefined) {
    throw new ValidationError(
      `${field}.renewBefore`,
      'renewBefore and renewBeforePercentage are both set',
      'keep one of them',
    );
  }
  const probes = (raw.probes ?? []).map((p, i) => parseProbeEndpoint(p, `${field}.probes[${i}]`));
  const acmRegions = parseAcmRegions(raw.acmRegions ?? [], `${field}.acmRegions`);
  const labels = parseLabels(raw.labels ?? {}, `${field}.labels`);
  const profile = raw.profile ?? (hasIp ? IP_PROFILE : undefined);
  const limit = identifierLimit(profile);
  if (identifiers.length > limit) {
    const where =
      profile !== undefined && MAX_IDENTIFIERS_BY_PROFILE[profile] ? ` on the ${profile} profile` : '';
    throw new ValidationError(
      `${field}.identifiers`,
      `lists ${identifiers.length} identifiers, but the CA signs at most ${limit} in one certificate${where} (Let's Encrypt's limit)`,
      `split it into certificates of at most ${limit} identifiers each`,
    );
  }
  return {
    name: raw.name,
    identifiers,
    challenge,
    profile,
    keyType: raw.keyType ?? DEFAULT_KEY_TYPE,
    hostedZoneId: raw.hostedZoneId,
    renewBefore: raw.renewBefore,
    renewBeforePercentage: raw.renewBeforePercentage,
    delivery: probes.length || acmRegions.length ? { agents: [], probes, acmRegions } : undefined,
    ...(Object.keys(labels).length ? { labels } : {}),
  };
}

/** Parses "72h", "30m", "7d" into milliseconds. */
export function parseDuration(text: string, field = 'duration'): number {
  const m = DURATION.exec(text);
  if (!m)
    throw new ValidationError(
      field,
      `"${text}" is not a duration`,
      'write a number followed by s, m, h or d, e.g. "72h"',
    );
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
