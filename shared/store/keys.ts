/**
 * The one owner of the object-key layout (S3 and the filesystem store share it):
 *
 *   certificates/<name>/<serial>/{cert,chain,fullchain,privkey}.pem   immutable
 *   certificates/<name>/current.json                                   manifest, written last
 *   certificates/<name>/pending/privkey.pem                            key of the order in flight
 *   challenges/http-01/<token>                                         key authorization
 *   accounts/<directory host>/<account>.json                           ACME account key + URL
 *
 * Readers fetch the manifest first and follow its keys, so they never see a key without
 * its certificate (the files of a serial are complete before the manifest names them).
 */
export const BUNDLE_FILES = ['cert', 'chain', 'fullchain', 'privkey'] as const;
export type BundleFile = (typeof BUNDLE_FILES)[number];

export const CERTIFICATES_PREFIX = 'certificates/';
export const HTTP01_PREFIX = 'challenges/http-01/';
export const ACCOUNTS_PREFIX = 'accounts/';

export const certificatePrefix = (name: string): string => `${CERTIFICATES_PREFIX}${name}/`;
export const versionPrefix = (name: string, serial: string): string => `${certificatePrefix(name)}${serial}/`;
export const bundleFileKey = (name: string, serial: string, file: BundleFile): string =>
  `${versionPrefix(name, serial)}${file}.pem`;
export const manifestKey = (name: string): string => `${certificatePrefix(name)}current.json`;
export const pendingKeyKey = (name: string): string => `${certificatePrefix(name)}pending/privkey.pem`;
export const http01Key = (token: string): string => `${HTTP01_PREFIX}${token}`;

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
