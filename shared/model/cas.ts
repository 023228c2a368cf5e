import * as z from 'zod';

/**
 * The certificate authorities a deployment may use, in order of preference, and when a
 * failing renewal moves from one to the next. The config's `cas` list (or its older single
 * `ca`) is resolved here into what the issuer's environment carries (CERTKEEPER_CAS), so the
 * stack, local mode and the Lambdas read one shape.
 */

/**
 * The CAs known by name (what the config's `directory` and `--directory-url` accept besides
 * a URL), each with its ACME directory URL.
 */
export const WELL_KNOWN_CAS = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
} as const;

/** CAA identities (RFC 8659 §4.2) of the well-known CAs, for when a directory names none. */
const KNOWN_CAA_IDENTITIES: Record<string, string[]> = {
  [WELL_KNOWN_CAS.letsencrypt]: ['letsencrypt.org'],
  [WELL_KNOWN_CAS['letsencrypt-staging']]: ['letsencrypt.org'],
};

export const CA_NAME_PATTERN = /^[a-z0-9][a-z0-9.-]{0,62}$/;

/** This machine: 127.0.0.0/8, ::1 (as URL.hostname writes it, bracketed) or localhost. */
export const isLoopbackHost = (hostname: string): boolean =>
  /^127\.\d+\.\d+\.\d+$/.test(hostname) ||
  hostname === '[::1]' ||
  hostname === '::1' ||
  hostname.toLowerCase() === 'localhost';

/** Why a plain-http directory is refused (RFC 8555 §6.1). */
export const HTTPS_ONLY = 'ACME runs over HTTPS, RFC 8555 §6.1; plain http only for a CA on this machine';

/** Whether a directory URL may be used: https://, or http:// to this machine (a test CA, a local proxy). */
export function isAllowedDirectoryUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname));
}

/** An ACME directory URL as the config and the environment take it. */
export const directoryUrlSchema = z
  .string()
  .url()
  .refine(isAllowedDirectoryUrl, `must be an https:// URL (${HTTPS_ONLY})`);

/** The config's `directory` value (a well-known CA's name or a URL) as a directory URL. */
export const resolveDirectoryName = (directory: string): string =>
  Object.hasOwn(WELL_KNOWN_CAS, directory)
    ? WELL_KNOWN_CAS[directory as keyof typeof WELL_KNOWN_CAS]
    : directory;

/** A CA's default name: its well-known name, else its directory's host (port dropped). */
export function defaultCaName(directory: string): string {
  if (Object.hasOwn(WELL_KNOWN_CAS, directory)) return directory;
  const known = Object.entries(WELL_KNOWN_CAS).find(([, url]) => url === directory);
  if (known) return known[0];
  const url = new URL(directory);
  const port = url.port ? `-${url.port}` : '';
  return `${url.hostname}${port}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
}

/**
 * One CA as the issuer uses it: directory, account contact and binding, and the names it
 * goes by in CAA records. The EAB HMAC key itself stays in Secrets Manager (its ARN here);
 * local mode and tests may give it inline.
 */
export const caSettingsSchema = z
  .object({
    name: z.string().regex(CA_NAME_PATTERN, 'must be lower-case letters, digits, dots and hyphens'),
    directoryUrl: directoryUrlSchema,
    contact: z.string().optional(),
    eab: z
      .object({
        kid: z.string().min(1),
        hmacKeySecretArn: z.string().optional(),
        hmacKey: z.string().optional(),
      })
      .strict()
      .optional(),
    /** RFC 8659 §4.2 issuer domain names; defaults to what the directory's meta says. */
    caaIdentities: z.array(z.string().min(1)).optional(),
  })
  .strict();
export type CaSettings = z.infer<typeof caSettingsSchema>;

/**
 * When a renewal that keeps failing for the CA's reasons moves to the next CA: after this
 * many such failures on one CA, or at the first one once less than this share of the
 * current certificate's lifetime is left. The next renewal starts at the preferred CA again.
 */
export const caFallbackSchema = z
  .object({
    afterFailures: z.number().int().min(1).max(100).default(2),
    lifetimeShareLeft: z.number().min(0).max(1).default(0.2),
  })
  .strict();
export type CaFallbackPolicy = z.infer<typeof caFallbackSchema>;
export const DEFAULT_CA_FALLBACK: CaFallbackPolicy = { afterFailures: 2, lifetimeShareLeft: 0.2 };

/** The CAA identities to check for a CA: configured, else the directory's, else well-known. */
export function caaIdentitiesFor(ca: CaSettings, fromDirectory: readonly string[]): string[] {
  if (ca.caaIdentities?.length) return ca.caaIdentities;
  if (fromDirectory.length > 0) return [...fromDirectory];
  return KNOWN_CAA_IDENTITIES[ca.directoryUrl] ?? [];
}
