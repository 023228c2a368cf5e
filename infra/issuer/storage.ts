/**
 * Where certkeeper keeps what it knows: the KMS key, the certificates bucket and its
 * access-log bucket, and the inventory table. All retained when the stack is deleted.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ATTRIBUTE_DEFINITIONS, DUE_INDEX, KEY_SCHEMA, TTL_ATTRIBUTE } from '../../shared/dynamo/table.js';
import {
  HTTP01_PREFIX,
  RETENTION_CLASSES,
  RETENTION_TAG,
  SUPERSEDED_TAG,
} from '../../shared/store/layout.js';

export interface IssuerStorageProps {
  /** `http01PublicRead`: anyone may GET `challenges/http-01/*`. */
  readonly publicChallenges: boolean;
  /** How long replaced versions and superseded serials are kept. */
  readonly retainSuperseded: Duration;
}

/**
 * The stateful resources. Made in the CertkeeperIssuer's own scope, not in a child
 * construct: a logical ID is derived from the construct path, and these IDs are pinned (a
 * changed ID replaces the bucket, table or key of a deployed stack).
 */
export class IssuerStorage {
  /** Encrypts the bucket (unless http01PublicRead), table, queues and topics; rotated yearly. */
  readonly key: kms.Key;
  /** Receives the bucket's S3 server access logs. */
  readonly accessLogsBucket: s3.Bucket;
  /** Certificates, HTTP-01 tokens and ACME accounts (layout in shared/store/layout.ts). */
  readonly bucket: s3.Bucket;
  /** Inventory, leases and the due index (layout in shared/dynamo/table.ts). */
  readonly table: dynamodb.Table;

  constructor(
    private readonly scope: Construct,
    props: IssuerStorageProps,
  ) {
    const stack = Stack.of(scope);
    const { publicChallenges, retainSuperseded } = props;

    this.key = new kms.Key(scope, 'Key', {
      description: 'certkeeper: certificates bucket, inventory table, queues and topics',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarm actions publish to the (encrypted) alarms topic as the service itself.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    this.accessLogsBucket = new s3.Bucket(scope, 'AccessLogs', {
      // S3 server access logging can only deliver to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.accessLogsBucket, [
      {
        id: 'AwsSolutions-S1',
        reason:
          'This bucket is the access-log destination of the certificates bucket; logging it would log the logs.',
      },
    ]);

    this.bucket = new s3.Bucket(scope, 'Bucket', {
      // Anonymous readers cannot use KMS, so public challenge tokens need SSE-S3 by default;
      // private keys and ACME accounts are always written with SSE-KMS explicitly by the store.
      ...(publicChallenges
        ? { encryption: s3.BucketEncryption.S3_MANAGED }
        : { encryption: s3.BucketEncryption.KMS, encryptionKey: this.key, bucketKeyEnabled: true }),
      versioned: true,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      blockPublicAccess: publicChallenges
        ? new s3.BlockPublicAccess({
            blockPublicAcls: true,
            ignorePublicAcls: true,
            blockPublicPolicy: false,
            restrictPublicBuckets: false,
          })
        : s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'certificates-bucket/',
      lifecycleRules: [
        {
          id: 'expire-replaced-versions',
          noncurrentVersionExpiration: retainSuperseded,
          expiredObjectDeleteMarker: true,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          id: 'expire-superseded-serials',
          // Serials that earlier versions tagged when a newer one became current.
          tagFilters: { [SUPERSEDED_TAG]: 'true' },
          expiration: retainSuperseded,
        },
        // Each serial's files carry the lifetime class of their certificate from the write
        // (RETENTION_TAG): they expire that long plus the retention period after it, i.e.
        // weeks after the certificate itself has, replaced or not.
        ...RETENTION_CLASSES.map((days) => ({
          id: `expire-serials-${days}d`,
          tagFilters: { [RETENTION_TAG]: String(days) },
          expiration: Duration.days(days + retainSuperseded.toDays()),
        })),
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (publicChallenges) {
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'PublicReadHttp01ChallengesOnly',
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:GetObject'],
          resources: [this.bucket.arnForObjects(`${HTTP01_PREFIX}*`)],
        }),
      );
      NagSuppressions.addResourceSuppressions(this.bucket, [
        {
          id: 'AwsSolutions-S2',
          reason:
            'http01PublicRead: the bucket policy lets anyone GET challenges/http-01/* (ACME key authorizations, public by design); ACLs stay blocked and no other prefix is readable.',
        },
      ]);
    }

    this.table = new dynamodb.Table(scope, 'Table', {
      partitionKey: attribute(keyAttribute(KEY_SCHEMA, 'HASH')),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: DUE_INDEX.IndexName!,
      partitionKey: attribute(keyAttribute(DUE_INDEX.KeySchema, 'HASH')),
      sortKey: attribute(keyAttribute(DUE_INDEX.KeySchema, 'RANGE')),
      projectionType: DUE_INDEX.Projection?.ProjectionType as dynamodb.ProjectionType,
    });
  }

  /** The due index's ARN, which IAM names apart from the table's. */
  get dueIndexArn(): string {
    return `${this.table.tableArn}/index/${DUE_INDEX.IndexName}`;
  }

  /**
   * A topic encrypted with the key, in the issuer's scope like everything here (each part
   * makes the topic it owns: events, alarms, notifications).
   */
  topic(id: string, displayName: string): sns.Topic {
    return new sns.Topic(this.scope, id, { displayName, masterKey: this.key, enforceSSL: true });
  }
}

function keyAttribute(
  schema: { AttributeName?: string; KeyType?: string }[] | undefined,
  type: string,
): string {
  const name = schema?.find((k) => k.KeyType === type)?.AttributeName;
  if (!name) throw new Error(`shared/dynamo/table.ts declares no ${type} key`);
  return name;
}

/** A key attribute with the type shared/dynamo/table.ts declares for it. */
function attribute(name: string): dynamodb.Attribute {
  const declared = ATTRIBUTE_DEFINITIONS.find((a) => a.AttributeName === name)?.AttributeType;
  const types: Record<string, dynamodb.AttributeType> = {
    S: dynamodb.AttributeType.STRING,
    N: dynamodb.AttributeType.NUMBER,
    B: dynamodb.AttributeType.BINARY,
  };
  const type = declared ? types[declared] : undefined;
  if (!type) throw new Error(`shared/dynamo/table.ts declares no type for ${name}`);
  return { name, type };
}
