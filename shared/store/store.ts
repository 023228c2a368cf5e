import { IntegrityError } from '../model/errors.js';
import type { BundleFile } from './layout.js';

/** One issued certificate, as PEM text. `privkey` never leaves the store and the agent. */
export interface CertificateBundle {
  cert: string;
  chain: string;
  fullchain: string;
  privkey: string;
}

export interface ManifestFile {
  key: string;
  sha256: string;
}

/** certificates/<name>/current.json: the pointer readers follow. */
export interface Manifest {
  version: 1;
  name: string;
  serial: string;
  identifiers: string[];
  profile: string | undefined;
  keyType: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  certId: string | undefined;
  /** The CA that issued it (config `cas[].name`); absent in manifests written before CAs had names. */
  ca?: string;
  files: Record<BundleFile, ManifestFile>;
}

export type ManifestInput = Omit<Manifest, 'version' | 'files' | 'name' | 'serial'>;

/**
 * Port: where certificates live. `putBundle` writes the serial's files, has their hashes
 * verified (by the backend on write, or by reading them back), and only then replaces the manifest, so a crash at any point leaves
 * the previous certificate current.
 */
export interface CertificateStore {
  /** Human-readable location, e.g. "s3://bucket" or a directory path. */
  readonly location: string;
  putBundle(
    name: string,
    serial: string,
    bundle: CertificateBundle,
    meta: ManifestInput,
    options?: PutBundleOptions,
  ): Promise<Manifest>;
  getManifest(name: string): Promise<Manifest | undefined>;
  readFile(key: string): Promise<string>;
  /** Serials stored for a certificate, oldest first. */
  listSerials(name: string): Promise<string[]>;
}

export interface PutBundleOptions {
  /**
   * Runs after the serial's files are stored and verified, right before the manifest is
   * replaced; if it throws, the manifest is left as it was. A renewal checks its lease here
   * (a worker whose lease was taken over must not point readers at its certificate).
   */
  beforeManifest?: () => Promise<void>;
}

export interface PutOptions {
  secret?: boolean;
  ifAbsent?: boolean;
  contentType?: string;
  sha256?: string;
  /**
   * Tags written with the object, in the same request (S3: x-amz-tagging), for lifecycle
   * rules; backends without lifecycle ignore them.
   */
  tags?: Record<string, string>;
}

/** Port: the small object store for ACME account keys and HTTP-01 tokens. */
/** An object over a reader's limit: refused before more than the limit was read. */
export const tooLarge = (where: string, maxBytes: number): IntegrityError =>
  new IntegrityError(
    `${where} is larger than ${maxBytes} bytes, more than it can legitimately hold`,
    'check what wrote it; certkeeper writes it again in its own size',
  );

export interface GetOptions {
  /**
   * Read at most this many bytes: a larger object is an IntegrityError, and no more than
   * this (plus one) is ever transferred or held, whatever the object grew to since it was
   * listed (S3: a ranged GET).
   */
  maxBytes?: number;
}

export interface ObjectStore {
  get(key: string, options?: GetOptions): Promise<string | undefined>;
  /**
   * Writes the object; `secret` objects are encrypted with the configured KMS key. `sha256`
   * (hex, of the UTF-8 body) lets a backend that can have the write checked against it do so.
   */
  put(key: string, body: string, options?: PutOptions): Promise<void>;
  /**
   * True when a `put` given `sha256` only succeeds if the backend stored exactly those bytes
   * and reads after it see them (S3: ChecksumSHA256 is checked before anything is stored,
   * and reads are strongly consistent), so reading back adds nothing.
   */
  readonly verifiesOnWrite?: boolean;
  delete(key: string): Promise<void>;
}
