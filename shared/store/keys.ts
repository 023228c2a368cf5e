/**
 * The one owner of the object-key layout (S3 and the filesystem store share it):
 *
 *   certificates/<name>/<serial>/{cert,chain,fullchain,privkey}.pem   immutable
 *   certificates/<name>/current.json                                   manifest, written last
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
export const http01Key = (token: string): string => `${HTTP01_PREFIX}${token}`;

/** Account objects are keyed by CA host and a hash of the contact, so one bucket serves many CAs. */
export function accountKey(directoryUrl: string, accountId: string): string {
  const host = new URL(directoryUrl).host.replace(/[^A-Za-z0-9.-]/g, '_');
  return `${ACCOUNTS_PREFIX}${host}/${accountId}.json`;
}

/** RFC 8555 §8.3: tokens are base64url; anything else is not ours to serve or store. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{16,256}$/;

/** S3 object tag on a replaced serial's files; the bucket's lifecycle rule expires them. */
export const SUPERSEDED_TAG = 'certkeeper:superseded';
