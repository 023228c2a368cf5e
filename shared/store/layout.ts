/**
 * The one owner of the object-key layout (S3 and the filesystem store share it):
 *
 *   certificates/<name>/<serial>/{cert,chain,fullchain,privkey}.pem   immutable
 *   certificates/<name>/current.json                                   manifest, written last
 *   certificates/<name>/pending/order-key.json                         key of the order being finalized
 *   challenges/http-01/<token>                                         key authorization
 *   challenges/tls-alpn-01/<SNI name>                                  validation certificate + its throwaway key
 *   accounts/<directory host>/<account>.json                           ACME account key + URL
 *   agents/<agent>/report.json                                         what an agent reports (direct mode)
 *   agents/<agent>/deliveries/<certificate>/<serial>.json              a certificate sealed to one agent
 *
 * Readers fetch the manifest first and follow its keys, so they never see a key without
 * its certificate (the files of a serial are complete before the manifest names them).
 */
export const BUNDLE_FILES = ['cert', 'chain', 'fullchain', 'privkey'] as const;
export type BundleFile = (typeof BUNDLE_FILES)[number];

export const CERTIFICATES_PREFIX = 'certificates/';
export const HTTP01_PREFIX = 'challenges/http-01/';
export const TLSALPN01_PREFIX = 'challenges/tls-alpn-01/';
export const ACCOUNTS_PREFIX = 'accounts/';
export const AGENTS_PREFIX = 'agents/';

export const certificatePrefix = (name: string): string => `${CERTIFICATES_PREFIX}${name}/`;
export const versionPrefix = (name: string, serial: string): string => `${certificatePrefix(name)}${serial}/`;
export const bundleFileKey = (name: string, serial: string, file: BundleFile): string =>
  `${versionPrefix(name, serial)}${file}.pem`;
export const manifestKey = (name: string): string => `${certificatePrefix(name)}current.json`;
/** Beside the serial prefixes, never one itself (CAs' serials are hex). */
export const PENDING_DIR = 'pending';
export const pendingKeyKey = (name: string): string =>
  `${certificatePrefix(name)}${PENDING_DIR}/order-key.json`;
export const http01Key = (token: string): string => `${HTTP01_PREFIX}${token}`;
/** Everything of one agent's lives under its name: the stack grants each agent this prefix alone. */
export const agentPrefix = (agent: string): string => `${AGENTS_PREFIX}${agent}/`;
export const agentDeliveryKey = (agent: string, certificate: string, serial: string): string =>
  `${agentPrefix(agent)}deliveries/${certificate}/${serial}.json`;
/**
 * Keyed by the SNI name the CA sends (RFC 8737 §3; RFC 8738 §6 for IPs), which is all the
 * responder knows of a connection. SNI_NAME keeps anything else out of the key space.
 */
export const tlsAlpn01Key = (sni: string): string => `${TLSALPN01_PREFIX}${sni}`;
export const SNI_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Account objects are keyed by CA host and a hash of the contact, so one bucket serves many CAs. */
export function accountKey(directoryUrl: string, accountId: string): string {
  const host = new URL(directoryUrl).host.replace(/[^A-Za-z0-9.-]/g, '_');
  return `${ACCOUNTS_PREFIX}${host}/${accountId}.json`;
}

/** RFC 8555 §8.3: tokens are base64url; anything else is not ours to serve or store. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{16,256}$/;

/**
 * S3 object tag that earlier versions put on a replaced serial's files (a request per
 * file); the bucket's lifecycle rule still expires the objects that carry it.
 */
export const SUPERSEDED_TAG = 'certkeeper:superseded';

/**
 * S3 object tag written with each serial's files: an upper bound of the certificate's
 * lifetime in days (RETENTION_CLASSES). A lifecycle rule per class expires the files that
 * long (plus the retention period) after they were written, so they are gone some weeks
 * after the certificate itself has expired, whether or not a newer serial replaced it,
 * and without a request per replaced file.
 */
export const RETENTION_TAG = 'certkeeper:lifetime-days';
export const RETENTION_CLASSES = [10, 100, 400] as const;

/** The smallest class that covers `lifetimeMs`; undefined (kept) beyond the largest. */
export function retentionClass(lifetimeMs: number): (typeof RETENTION_CLASSES)[number] | undefined {
  const days = lifetimeMs / 86_400_000;
  return RETENTION_CLASSES.find((c) => days <= c);
}
