import { createHash } from 'node:crypto';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, UnreachableError } from '../../shared/model/errors.js';
import { bundleFileKey, manifestKey, RETENTION_TAG } from '../../shared/store/layout.js';
import { S3CertificateStore, S3ObjectStore } from '../../shared/store/s3-store.js';
import { peers, s3Client, uniqueName } from '../../scripts/test-kit/peers.js';
import { fakeBundle, fakeMeta } from '../support/store-fixtures.js';

/** moto's KMS: a real key, so the SSE-KMS headers name something that exists. */
async function createKmsKey(): Promise<string> {
  const { region, motoEndpoint } = peers();
  const kms = new KMSClient({ endpoint: motoEndpoint, region, credentials: s3Client().config.credentials });
  const out = await kms.send(new CreateKeyCommand({ Description: 'certkeeper store test' }));
  return out.KeyMetadata!.Arn!;
}

/** Nothing listens on the discard port of 127.0.0.1: connections are refused at once. */
const deadS3 = () =>
  new S3Client({
    endpoint: 'http://127.0.0.1:9',
    region: peers().region,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: s3Client().config.credentials,
  });

/** Records every command the client sends and can fail the next manifest write. */
function instrument(client: S3Client) {
  const calls: string[] = [];
  const checksums = new Map<string, string>();
  const state = { failManifest: false };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key ?? '';
      const command = (context.commandName ?? '').replace(/Command$/, '');
      calls.push(`${command} ${key}`);
      const checksum = (args.input as { ChecksumSHA256?: string }).ChecksumSHA256;
      if (checksum) checksums.set(key, checksum);
      if (state.failManifest && command === 'PutObject' && key.endsWith('current.json')) {
        throw Object.assign(new Error('We encountered an internal error'), {
          name: 'InternalError',
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'certkeeperRecorder' },
  );
  return { calls, checksums, state };
}

let bucket: string;
let kmsKeyId: string;
beforeAll(async () => {
  bucket = uniqueName('certkeeper-store');
  await s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
  kmsKeyId = await createKmsKey();
});

// What every CertificateStore and ObjectStore promises (read back, immutable serials,
// corrupt manifests, serial order, refused input, the previous certificate kept when the
// manifest write fails, ifAbsent, idempotent delete) is in test/contracts/; these are S3's
// own: checksums instead of reading back, lifecycle tags, KMS, content types, SDK errors.
describe('S3CertificateStore against moto', () => {
  it('writes the four files with their manifest hash as S3 checksum, then the manifest last', async () => {
    const client = s3Client();
    const { calls, checksums } = instrument(client);
    const store = new S3CertificateStore(client, { bucket, kmsKeyId });
    const bundle = fakeBundle('a');
    const manifest = await store.putBundle('web', 'AA01', bundle, fakeMeta());
    const issuance = [...calls];

    const manifestWrite = calls.indexOf(`PutObject ${manifestKey('web')}`);
    expect(manifestWrite).toBe(calls.length - 1);
    for (const file of ['cert', 'chain', 'fullchain', 'privkey'] as const) {
      const key = bundleFileKey('web', 'AA01', file);
      expect(calls.indexOf(`PutObject ${key}`)).toBeLessThan(manifestWrite);
      // S3 checks the body against ChecksumSHA256 before storing it, so nothing is read back.
      expect(issuance).not.toContain(`GetObject ${key}`);
      const sent = checksums.get(key);
      expect(sent).toBe(Buffer.from(manifest.files[file].sha256, 'hex').toString('base64'));
      expect(sent).toBe(createHash('sha256').update(bundle[file]).digest('base64'));
      // What the store keeps for the object is that checksum.
      const stored = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }),
      );
      expect(stored.ChecksumSHA256).toBe(sent);
      expect(await stored.Body!.transformToString()).toBe(bundle[file]);
    }
    // Five writes per issuance and nothing else: no read back, no request for the replaced serial.
    expect(issuance.filter((c) => !c.startsWith('PutObject '))).toEqual([]);
    expect(issuance).toHaveLength(5);
  });

  it('writes each serial file with its lifetime class for the lifecycle rule, and leaves the replaced serial alone', async () => {
    const client = s3Client();
    const store = new S3CertificateStore(client, { bucket, kmsKeyId });
    // A 160-hour certificate (class 10 days), then a 90-day one (class 100 days).
    await store.putBundle(
      'tagged',
      'BB01',
      fakeBundle('old'),
      fakeMeta({ notAfter: '2026-05-07T16:00:00.000Z' }),
    );
    const { calls } = instrument(client);
    await store.putBundle(
      'tagged',
      'BB02',
      fakeBundle('new'),
      fakeMeta({ notAfter: '2026-07-30T00:00:00.000Z' }),
    );
    expect(calls.some((c) => c.includes('BB01'))).toBe(false);
    const tags = async (serial: string, file: 'privkey' | 'cert' = 'privkey') =>
      (
        await client.send(
          new GetObjectTaggingCommand({ Bucket: bucket, Key: bundleFileKey('tagged', serial, file) }),
        )
      ).TagSet;
    expect(await tags('BB01')).toEqual([{ Key: RETENTION_TAG, Value: '10' }]);
    expect(await tags('BB02', 'cert')).toEqual([{ Key: RETENTION_TAG, Value: '100' }]);
    const manifestTags = await client.send(
      new GetObjectTaggingCommand({ Bucket: bucket, Key: manifestKey('tagged') }),
    );
    expect(manifestTags.TagSet).toEqual([]);
    expect((await store.getManifest('tagged'))?.serial).toBe('BB02');
  });

  it('reports a failed manifest write as retryable, naming the S3 object', async () => {
    const client = s3Client();
    const { state } = instrument(client);
    const store = new S3CertificateStore(client, { bucket, kmsKeyId });
    await store.putBundle('keep', 'AA01', fakeBundle('a'), fakeMeta());
    state.failManifest = true;
    const err = await store.putBundle('keep', 'BB02', fakeBundle('b'), fakeMeta()).catch((e: unknown) => e);
    expect((err as { retryable?: boolean }).retryable).toBe(true);
    expect((err as Error).message).toContain(`s3://${bucket}/${manifestKey('keep')}`);
  });

  it('encrypts private keys with the configured KMS key under a bucket key and labels every object', async () => {
    const client = s3Client();
    await new S3CertificateStore(client, { bucket, kmsKeyId }).putBundle(
      'kms',
      'AA01',
      fakeBundle('a'),
      fakeMeta(),
    );
    const head = (key: string) => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const key = await head(bundleFileKey('kms', 'AA01', 'privkey'));
    expect(key.ServerSideEncryption).toBe('aws:kms');
    expect(key.SSEKMSKeyId).toBe(kmsKeyId);
    // With a bucket key, whatever the bucket's default: no KMS request per private key.
    expect(key.BucketKeyEnabled).toBe(true);
    expect(key.ContentType).toBe('application/x-pem-file');
    const cert = await head(bundleFileKey('kms', 'AA01', 'cert'));
    expect(cert.SSEKMSKeyId).toBeUndefined();
    expect((await head(manifestKey('kms'))).ContentType).toBe('application/json');
  });
});

describe('S3ObjectStore against moto', () => {
  it('encrypts secrets with the configured KMS key, also when created only if absent', async () => {
    const client = s3Client();
    const objects = new S3ObjectStore(client, { bucket, kmsKeyId });
    const key = `accounts/pebble/${uniqueName('account')}.json`;
    await objects.put(key, '{"k":1}', { ifAbsent: true, secret: true });
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ServerSideEncryption).toBe('aws:kms');
    expect(head.SSEKMSKeyId).toBe(kmsKeyId);
  });

  it('reports a missing bucket as NotFoundError and a dead endpoint as UnreachableError', async () => {
    const missing = new S3ObjectStore(s3Client(), {
      bucket: uniqueName('certkeeper-missing'),
    });
    await expect(missing.get('x')).rejects.toBeInstanceOf(NotFoundError);
    const dead = new S3ObjectStore(deadS3(), { bucket });
    const err = await dead.get('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toContain('127.0.0.1:9');
  });
});
