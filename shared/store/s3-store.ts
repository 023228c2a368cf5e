import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { callAws, isAwsNotFound, isAwsPreconditionFailed, type AwsCallContext } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import { ConflictError } from '../model/errors.js';
import {
  ObjectCertificateStore,
  type ListableObjectStore,
  type ListedObject,
} from './object-certificate-store.js';
import { type GetOptions, type PutOptions, tooLarge } from './store.js';

export interface S3StoreOptions {
  bucket: string;
  /**
   * KMS key (id, ARN or alias) for private keys and other secret objects. When absent they
   * are still SSE-KMS encrypted, with the account's AWS-managed key (aws/s3).
   */
  kmsKeyId?: string;
  /** Used to date throttling errors; defaults to the system clock. */
  clock?: Clock;
}

/**
 * ObjectStore on one S3 bucket. The client comes from the composition root, which owns the
 * endpoint, region and path-style settings. `put(..., {ifAbsent: true})` throws ConflictError
 * when the key already exists.
 */
export class S3ObjectStore implements ListableObjectStore {
  readonly location: string;
  private readonly bucket: string;
  private readonly kmsKeyId: string | undefined;
  private readonly clock: Clock | undefined;

  constructor(
    private readonly client: S3Client,
    options: S3StoreOptions,
  ) {
    this.bucket = options.bucket;
    this.kmsKeyId = options.kmsKeyId;
    this.clock = options.clock;
    this.location = `s3://${options.bucket}`;
  }

  async get(key: string, options: GetOptions = {}): Promise<string | undefined> {
    // A missing key reads as AccessDenied without s3:ListBucket, hence that permission here.
    const ctx = this.ctx('GetObject', key, ['s3:GetObject', 's3:ListBucket', 'kms:Decrypt']);
    const max = options.maxBytes;
    const body = await callAws(ctx, async () => {
      try {
        const out = await this.client.send(
          // One byte past the limit tells a larger object from one exactly at it.
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Range: max === undefined ? undefined : `bytes=0-${max}`,
          }),
        );
        return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
      } catch (err) {
        if (isAwsNotFound(err)) return undefined;
        // A range of an empty object is not satisfiable (RFC 9110 §15.5.17): it is empty.
        if (
          max !== undefined &&
          (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416
        ) {
          return Buffer.alloc(0);
        }
        throw err;
      }
    });
    if (body === undefined) return undefined;
    if (max !== undefined && body.length > max) throw tooLarge(`${this.location}/${key}`, max);
    return body.toString('utf8');
  }

  /**
   * With `sha256` the hash goes along as ChecksumSHA256: S3 computes the hash of what it
   * received and refuses the write (BadDigest) unless it matches, so a stored object is the
   * one hashed into the manifest without reading it back.
   */
  readonly verifiesOnWrite = true;

  async put(key: string, body: string, options: PutOptions = {}): Promise<void> {
    const input: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: key,
      Body: body,
      ContentType: options.contentType ?? contentTypeFor(key),
    };
    if (options.sha256) {
      input.ChecksumAlgorithm = 'SHA256';
      input.ChecksumSHA256 = Buffer.from(options.sha256, 'hex').toString('base64');
    }
    if (options.secret) {
      input.ServerSideEncryption = 'aws:kms';
      if (this.kmsKeyId) input.SSEKMSKeyId = this.kmsKeyId;
      // An S3 Bucket Key: S3 asks KMS for a short-lived bucket-level key per requester and
      // period instead of a data key per object, whatever the bucket's default encryption
      // (SSE-S3 when http-01 tokens are public), so a renewal's two secret objects (the kept
      // key and privkey.pem) cost no KMS request of their own. The encryption context
      // becomes the bucket's ARN; no key policy here conditions on the object's.
      input.BucketKeyEnabled = true;
    }
    if (options.ifAbsent) input.IfNoneMatch = '*';
    if (options.tags) input.Tagging = new URLSearchParams(options.tags).toString();
    const permissions = [
      's3:PutObject',
      ...(options.secret ? ['kms:GenerateDataKey'] : []),
      ...(options.tags ? ['s3:PutObjectTagging'] : []),
    ];
    await callAws(this.ctx('PutObject', key, permissions), async () => {
      try {
        await this.client.send(new PutObjectCommand(input));
      } catch (err) {
        if (options.ifAbsent && isAwsPreconditionFailed(err)) {
          throw new ConflictError(`${this.location}/${key} already exists`);
        }
        throw err;
      }
    });
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a key that is already gone, so this is idempotent by itself.
    await callAws(this.ctx('DeleteObject', key), () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
  }

  async list(prefix: string): Promise<ListedObject[]> {
    const found: ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await callAws(this.ctx('ListObjectsV2', prefix, ['s3:ListBucket']), () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key) found.push({ key: o.Key, lastModified: o.LastModified ?? new Date(0), size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  private ctx(operation: string, key: string, permissions?: string[]): AwsCallContext & { client: S3Client } {
    return {
      service: 'S3',
      operation,
      resource: `${this.location}/${key}`,
      permissions,
      clock: this.clock,
      client: this.client,
    };
  }
}

/** CertificateStore on an S3 bucket: see ObjectCertificateStore for the write protocol. */
export class S3CertificateStore extends ObjectCertificateStore {
  constructor(client: S3Client, options: S3StoreOptions) {
    super(new S3ObjectStore(client, options));
  }
}

/** Every object gets a Content-Type, so nothing downloads as binary/octet-stream by accident. */
export function contentTypeFor(key: string): string {
  if (key.endsWith('.pem')) return 'application/x-pem-file';
  if (key.endsWith('.json')) return 'application/json';
  return 'text/plain; charset=utf-8';
}
