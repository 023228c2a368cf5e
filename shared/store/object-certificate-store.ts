import { ConflictError, IntegrityError, NotFoundError } from '../model/errors.js';
import {
  BUNDLE_FILES,
  type BundleFile,
  RETENTION_TAG,
  bundleFileKey,
  certificatePrefix,
  manifestKey,
  PENDING_DIR,
  retentionClass,
} from './layout.js';
import { sha256Hex } from '../pki/hash.js';
import { assertBundle, buildManifest, parseManifest } from './manifest.js';
import type {
  CertificateBundle,
  CertificateStore,
  Manifest,
  ManifestFile,
  ManifestInput,
  ObjectStore,
  PutBundleOptions,
} from './store.js';

/**
 * What a reader takes of a manifest and of one PEM file: a manifest is under a kilobyte, a
 * chain of a few certificates some; whatever a bucket writer puts there, nothing larger is
 * read into memory (an agent on a small server, a Lambda with its batch).
 */
export const MANIFEST_MAX_BYTES = 64 * 1024;
export const BUNDLE_FILE_MAX_BYTES = 64 * 1024;

export interface ListedObject {
  key: string;
  lastModified: Date;
  /** Bytes, as the listing reports them: lets a reader skip an object too large to read. */
  size: number;
}

/** An ObjectStore that can also list, which is all a CertificateStore needs from a backend. */
export interface ListableObjectStore extends ObjectStore {
  readonly location: string;
  /** Every object whose key starts with `prefix`, in no particular order. */
  list(prefix: string): Promise<ListedObject[]>;
}

/**
 * The CertificateStore protocol, written once over any ListableObjectStore (S3 or a
 * directory): immutable serial prefixes, verified files (checksum on write, or read back),
 * manifest last.
 */
export class ObjectCertificateStore implements CertificateStore {
  constructor(protected readonly objects: ListableObjectStore) {}

  get location(): string {
    return this.objects.location;
  }

  async putBundle(
    name: string,
    serial: string,
    bundle: CertificateBundle,
    meta: ManifestInput,
    options: PutBundleOptions = {},
  ): Promise<Manifest> {
    assertBundle(name, serial, bundle, meta);
    const lifetime = retentionClass(Date.parse(meta.notAfter) - Date.parse(meta.notBefore));
    const tags = lifetime === undefined ? undefined : { [RETENTION_TAG]: String(lifetime) };
    const entries = BUNDLE_FILES.map((file): [BundleFile, ManifestFile] => [
      file,
      { key: bundleFileKey(name, serial, file), sha256: sha256Hex(bundle[file]) },
    ]);
    await Promise.all(
      entries.map(([file, entry]) => this.writeOnce(entry, bundle[file], file === 'privkey', tags)),
    );
    // A truncated or altered object must stop us before the manifest points readers at it:
    // a backend that checked each write against its hash already has; others are read back.
    if (!this.objects.verifiesOnWrite) await Promise.all(entries.map(([, entry]) => this.verify(entry)));
    const manifest = buildManifest(
      name,
      serial,
      meta,
      Object.fromEntries(entries) as Record<BundleFile, ManifestFile>,
    );
    await options.beforeManifest?.();
    // The replaced serial is left as it is: its files carry their retention tag from the
    // write, and the bucket's lifecycle removes them weeks after they expire.
    await this.objects.put(manifestKey(name), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  }

  async getManifest(name: string): Promise<Manifest | undefined> {
    const key = manifestKey(name);
    const text = await this.objects.get(key, { maxBytes: MANIFEST_MAX_BYTES });
    return text === undefined ? undefined : parseManifest(text, key, name);
  }

  async readFile(key: string): Promise<string> {
    const text = await this.objects.get(key, { maxBytes: BUNDLE_FILE_MAX_BYTES });
    if (text === undefined) {
      throw new NotFoundError(
        `${this.location}: ${key} does not exist`,
        'read the keys named by the current manifest',
      );
    }
    return text;
  }

  async listSerials(name: string): Promise<string[]> {
    const prefix = certificatePrefix(name);
    const firstSeen = new Map<string, number>();
    for (const { key, lastModified } of await this.objects.list(prefix)) {
      const [serial, file] = key.slice(prefix.length).split('/');
      // current.json and the pending key are not in a serial prefix.
      if (!serial || file === undefined || serial === PENDING_DIR) continue;
      const t = lastModified.getTime();
      firstSeen.set(serial, Math.min(t, firstSeen.get(serial) ?? t));
    }
    return [...firstSeen].sort(([a, ta], [b, tb]) => ta - tb || a.localeCompare(b)).map(([serial]) => serial);
  }

  /**
   * Serial prefixes are immutable: create-if-absent, and an existing object is accepted only
   * when it is byte-for-byte what we meant to write (a retry after a crash or a timeout).
   */
  private async writeOnce(
    entry: ManifestFile,
    body: string,
    secret: boolean,
    tags: Record<string, string> | undefined,
  ): Promise<void> {
    try {
      await this.objects.put(entry.key, body, { ifAbsent: true, secret, sha256: entry.sha256, tags });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      await this.verify(entry);
    }
  }

  private async verify(entry: ManifestFile): Promise<void> {
    const stored = await this.objects.get(entry.key);
    if (stored === undefined || sha256Hex(stored) !== entry.sha256) {
      throw new IntegrityError(
        `${this.location}: ${entry.key} ${stored === undefined ? 'is missing after being written' : 'holds different content than this bundle'} (expected sha256 ${entry.sha256})`,
        'serial prefixes are immutable; a serial stored twice with different files needs investigation: compare the stored files with the CA, and delete the prefix only if it is not served',
      );
    }
  }
}
