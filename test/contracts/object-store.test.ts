/**
 * The ObjectStore contract (accounts, HTTP-01 tokens, agent reports, the fleet view and,
 * through ObjectCertificateStore, every certificate file), run against every adapter: the
 * directory of local mode and S3 (moto). A new adapter passes by adding one entry to ADAPTERS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../shared/model/errors.js';
import { FsObjectStore } from '../../shared/store/fs-store.js';
import type { ListableObjectStore } from '../../shared/store/object-certificate-store.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { s3Client, uniqueName } from '../../scripts/test-kit/peers.js';

interface StoreAdapter {
  name: string;
  /** A fresh, empty store, and how to dispose of it. */
  open(): Promise<{ store: ListableObjectStore; dispose(): Promise<void> }>;
}

const ADAPTERS: StoreAdapter[] = [
  {
    name: 'FsObjectStore',
    async open() {
      const root = await mkdtemp(join(tmpdir(), 'certkeeper-objects-contract-'));
      return {
        store: new FsObjectStore({ root }),
        dispose: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'S3ObjectStore (moto)',
    async open() {
      const client = s3Client();
      const bucket = uniqueName('objects-contract').slice(0, 50);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return { store: new S3ObjectStore(client, { bucket }), dispose: async () => client.destroy() };
    },
  },
];

describe.each(ADAPTERS)('ObjectStore contract: $name', (adapter) => {
  let store: ListableObjectStore;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ store, dispose } = await adapter.open());
  });
  afterAll(() => dispose());

  it('reads a missing key as undefined, not as an error', async () => {
    expect(await store.get('accounts/nobody/none.json')).toBeUndefined();
  });

  it('reads at most maxBytes: a larger object is refused whole, never read whole; at the limit and empty ones read', async () => {
    await store.put('limits/huge.json', 'x'.repeat(100_000));
    await expect(store.get('limits/huge.json', { maxBytes: 1024 })).rejects.toThrow(
      /huge\.json is larger than 1024 bytes/,
    );
    await store.put('limits/exact.json', 'y'.repeat(1024));
    expect(await store.get('limits/exact.json', { maxBytes: 1024 })).toBe('y'.repeat(1024));
    await store.put('limits/empty.json', '');
    expect(await store.get('limits/empty.json', { maxBytes: 1024 })).toBe('');
    expect(await store.get('limits/absent.json', { maxBytes: 1024 })).toBeUndefined();
    // Multi-byte text at the limit is cut nowhere: the limit is on bytes, checked before decoding.
    await store.put('limits/utf8.json', 'é'.repeat(512));
    expect(await store.get('limits/utf8.json', { maxBytes: 1024 })).toBe('é'.repeat(512));
  });

  it('reads back exactly what was written, and a second write replaces it', async () => {
    await store.put('agents/web-1/report.json', '{"a":1}\n');
    expect(await store.get('agents/web-1/report.json')).toBe('{"a":1}\n');
    await store.put('agents/web-1/report.json', 'ünïcode ✓');
    expect(await store.get('agents/web-1/report.json')).toBe('ünïcode ✓');
  });

  it('refuses to overwrite with ifAbsent (ConflictError) and keeps the first body', async () => {
    await store.put('accounts/ca/one.json', 'first', { ifAbsent: true, secret: true });
    await expect(store.put('accounts/ca/one.json', 'second', { ifAbsent: true })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await store.get('accounts/ca/one.json')).toBe('first');
  });

  it('deletes idempotently', async () => {
    await store.put('challenges/http-01/tokentokentoken1', 'ka');
    await store.delete('challenges/http-01/tokentokentoken1');
    await store.delete('challenges/http-01/tokentokentoken1');
    expect(await store.get('challenges/http-01/tokentokentoken1')).toBeUndefined();
  });

  it('lists the keys under a prefix and nothing else', async () => {
    await store.put('fleet/status.json', '{}');
    await store.put('agents/web-2/report.json', '{}');
    await store.put('agentsx/not-a-report.json', '{}');
    const keys = (await store.list('agents/')).map((o) => o.key).sort();
    expect(keys).toEqual(['agents/web-1/report.json', 'agents/web-2/report.json']);
    for (const o of await store.list('agents/')) expect(o.lastModified).toBeInstanceOf(Date);
    // Sizes are bytes, from the listing alone (a reader can skip what it will not read).
    const sizes = Object.fromEntries((await store.list('agents/web-1/')).map((o) => [o.key, o.size]));
    expect(sizes).toEqual({ 'agents/web-1/report.json': Buffer.byteLength('ünïcode ✓') });
    // A prefix may end inside a name, as S3's does: the directory store filters, not walks.
    expect((await store.list('agents/web-2/rep')).map((o) => o.key)).toEqual(['agents/web-2/report.json']);
  });
});
