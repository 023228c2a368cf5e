/**
 * The CertificateStore contract: what the renewal, the agent and the CLI rely on, run
 * against every adapter: the directory of local mode and S3 (moto). A new adapter passes by
 * adding one entry to ADAPTERS. Adapter-only behaviour (file modes, S3 checksums, KMS,
 * lifecycle tags, SDK error translation) stays in that adapter's own test file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, NotFoundError, ValidationError } from '../../shared/model/errors.js';
import { FsCertificateStore, FsObjectStore } from '../../shared/store/fs-store.js';
import { bundleFileKey, manifestKey } from '../../shared/store/layout.js';
import type { ListableObjectStore } from '../../shared/store/object-certificate-store.js';
import { S3CertificateStore, S3ObjectStore } from '../../shared/store/s3-store.js';
import type { CertificateStore } from '../../shared/store/store.js';
import { s3Client, uniqueName } from '../../scripts/test-kit/peers.js';
import { fakeBundle, fakeMeta } from '../support/store-fixtures.js';
import { pendingKeyKey } from '../../shared/store/layout.js';

interface Opened {
  store: CertificateStore;
  /** The same backing store, raw: to damage a manifest and to see every object written. */
  objects: ListableObjectStore;
  location: string;
  /** From now on every write of a manifest (current.json) fails, as a full disk or a 500 would. */
  failManifestWrites(): void;
  /** Finest step of the backend's modification times (S3 lists them to the second). */
  timeResolutionMs: number;
  dispose(): Promise<void>;
}

interface CertificateStoreAdapter {
  name: string;
  open(): Promise<Opened>;
}

/** S3 clients that fail manifest writes with a 500 once asked to, as S3 sometimes does. */
function failingManifestWrites(client: S3Client): () => void {
  const state = { fail: false };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key ?? '';
      if (state.fail && context.commandName === 'PutObjectCommand' && key.endsWith('/current.json')) {
        throw Object.assign(new Error('We encountered an internal error'), {
          name: 'InternalError',
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'failManifestWrites' },
  );
  return () => void (state.fail = true);
}

/** Gives a test access to the store's backend, to make its manifest writes fail. */
class ProbedFsCertificateStore extends FsCertificateStore {
  failManifestWrites(): void {
    const objects = this.objects;
    const put = objects.put.bind(objects);
    objects.put = async (key, body, options) => {
      if (key.endsWith('/current.json')) throw new Error(`could not write ${key} (ENOSPC)`);
      return put(key, body, options);
    };
  }
}

const ADAPTERS: CertificateStoreAdapter[] = [
  {
    name: 'FsCertificateStore',
    async open() {
      const root = await mkdtemp(join(tmpdir(), 'certkeeper-certstore-contract-'));
      const store = new ProbedFsCertificateStore({ root });
      return {
        store,
        objects: new FsObjectStore({ root }),
        location: root,
        failManifestWrites: () => store.failManifestWrites(),
        timeResolutionMs: 1,
        dispose: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'S3CertificateStore (moto)',
    async open() {
      const client = s3Client();
      const bucket = uniqueName('certstore-contract').slice(0, 50);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return {
        store: new S3CertificateStore(client, { bucket }),
        objects: new S3ObjectStore(client, { bucket }),
        location: `s3://${bucket}`,
        failManifestWrites: failingManifestWrites(client),
        timeResolutionMs: 1000,
        dispose: async () => client.destroy(),
      };
    },
  },
];

/** Waits until the backend's clock can tell a write from the previous one. */
const nextTimeStep = (ms: number) => new Promise((done) => setTimeout(done, ms - (Date.now() % ms) + 1));

describe.each(ADAPTERS)('CertificateStore contract: $name', (adapter) => {
  let opened: Opened;
  let store: CertificateStore;
  beforeAll(async () => {
    opened = await adapter.open();
    store = opened.store;
  });
  afterAll(() => opened.dispose());

  it('writes the four files and a manifest that reads back identically', async () => {
    const written = await store.putBundle('web', 'AA01', fakeBundle('a'), fakeMeta());
    expect(await store.getManifest('web')).toEqual(written);
    expect(written).toMatchObject({ version: 1, name: 'web', serial: 'AA01', profile: 'tlsserver' });
    expect(written.certId).toBeUndefined();
    for (const file of ['cert', 'chain', 'fullchain', 'privkey'] as const) {
      expect(written.files[file].key).toBe(bundleFileKey('web', 'AA01', file));
      expect(await store.readFile(written.files[file].key)).toBe(fakeBundle('a')[file]);
    }
    expect(store.location).toBe(opened.location);
  });

  it('replaces the manifest with the newer serial and keeps the older serial readable', async () => {
    const older = await store.putBundle('roll', 'AA01', fakeBundle('a'), fakeMeta());
    await store.putBundle('roll', 'BB02', fakeBundle('b'), fakeMeta());
    expect((await store.getManifest('roll'))?.serial).toBe('BB02');
    expect(await store.readFile(older.files.cert.key)).toBe(fakeBundle('a').cert);
  });

  it('accepts an identical re-put and refuses different content under a stored serial', async () => {
    await store.putBundle('again', 'AA01', fakeBundle('a'), fakeMeta());
    await expect(store.putBundle('again', 'AA01', fakeBundle('a'), fakeMeta())).resolves.toMatchObject({
      serial: 'AA01',
    });
    const err = await store.putBundle('again', 'AA01', fakeBundle('b'), fakeMeta()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain('certificates/again/AA01/');
    expect(await store.readFile(bundleFileKey('again', 'AA01', 'cert'))).toBe(fakeBundle('a').cert);
  });

  it('returns undefined without a manifest and names the key of a corrupt one', async () => {
    expect(await store.getManifest('never')).toBeUndefined();
    await store.putBundle('bad', 'AA01', fakeBundle('a'), fakeMeta());
    const key = manifestKey('bad');
    const good = JSON.parse((await opened.objects.get(key))!) as Record<string, unknown>;
    for (const corrupt of [
      '{"version": 1, "name": "ba',
      JSON.stringify({ ...good, notAfter: 'soon' }),
      JSON.stringify({ ...good, name: 'api' }),
      JSON.stringify({ ...good, serial: 'CC03' }), // files then point outside the serial prefix
    ]) {
      await opened.objects.put(key, corrupt);
      const err = await store.getManifest('bad').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toContain(key);
    }
  });

  it('throws NotFoundError for a missing file', async () => {
    await expect(store.readFile('certificates/none/AA01/cert.pem')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists serials oldest first, whatever their names, and none for an unknown name', async () => {
    await store.putBundle('aged', 'ZZ01', fakeBundle('z'), fakeMeta());
    await nextTimeStep(opened.timeResolutionMs);
    await store.putBundle('aged', 'AA01', fakeBundle('a'), fakeMeta());
    // Written after AA01: later, or (S3 lists whole seconds) as old, when the serial decides.
    await store.putBundle('aged', 'BB01', fakeBundle('b'), fakeMeta());
    // The key kept for an order in flight sits beside the serials and is not one.
    await opened.objects.put(pendingKeyKey('aged'), '{}', { secret: true });
    expect(await store.listSerials('aged')).toEqual(['ZZ01', 'AA01', 'BB01']);
    expect(await store.listSerials('unknown')).toEqual([]);
  });

  it('refuses bad input before writing anything, naming the field and never echoing the key', async () => {
    const before = (await opened.objects.list('')).length;
    const secretish = { ...fakeBundle('a'), privkey: 'not a key but secret-ish text' };
    const err = await store.putBundle('refused', 'AA01', secretish, fakeMeta()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('bundle.privkey');
    expect((err as Error).message).not.toContain('secret-ish');
    const badSerial = await store.putBundle('refused', '../x', fakeBundle('a'), fakeMeta()).catch((e) => e);
    expect(badSerial).toBeInstanceOf(ValidationError);
    expect((badSerial as ValidationError).field).toBe('serial');
    await expect(
      store.putBundle('refused', 'AA01', fakeBundle('a'), fakeMeta({ notAfter: 'next month' })),
    ).rejects.toThrow('meta.notAfter');
    expect(await opened.objects.list('')).toHaveLength(before);
  });

  it('runs beforeManifest once the files are stored; when it refuses, the manifest stays as it was', async () => {
    await store.putBundle('fenced', 'AA01', fakeBundle('a'), fakeMeta());
    const seen: string[][] = [];
    const refused = store.putBundle('fenced', 'BB02', fakeBundle('b'), fakeMeta(), {
      beforeManifest: async () => {
        seen.push(await store.listSerials('fenced'));
        throw new Error('lease lost');
      },
    });
    await expect(refused).rejects.toThrow('lease lost');
    expect(seen.map((serials) => [...serials].sort())).toEqual([['AA01', 'BB02']]);
    expect((await store.getManifest('fenced'))?.serial).toBe('AA01');
    await store.putBundle('fenced', 'BB02', fakeBundle('b'), fakeMeta(), { beforeManifest: async () => {} });
    expect((await store.getManifest('fenced'))?.serial).toBe('BB02');
  });

  // Last: from here on the adapter's manifest writes fail.
  it('leaves the previous certificate current when the manifest write fails', async () => {
    await store.putBundle('keep', 'AA01', fakeBundle('a'), fakeMeta());
    opened.failManifestWrites();
    await expect(store.putBundle('keep', 'BB02', fakeBundle('b'), fakeMeta())).rejects.toThrow();
    expect((await store.getManifest('keep'))?.serial).toBe('AA01');
    expect((await store.listSerials('keep')).sort()).toEqual(['AA01', 'BB02']);
  });
});
