import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { ALERT_EVENT_TYPES, PUBLISH_CRL_EVENT, STATS_EVENT } from '../../infra/issuer.js';
import { DUE_INDEX_NAME, PARTITION_KEY, TTL_ATTRIBUTE } from '../../shared/dynamo/table.js';
import { parseRuntimeEnv } from '../../shared/model/runtime-config.js';
import {
  HTTP01_PREFIX,
  RETENTION_CLASSES,
  RETENTION_TAG,
  SUPERSEDED_TAG,
} from '../../shared/store/layout.js';
import {
  exampleConfigInput,
  fullConfigInput,
  resourcesOf,
  synth,
  type Synthesized,
} from '../support/synth.js';

const KEY = { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerKey'), 'Arn'] };

describe('CertkeeperIssuer with the example config', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  it('has one customer-managed KMS key with rotation, and the agents CA key, both retained', () => {
    s.template.resourceCountIs('AWS::KMS::Key', 2);
    s.template.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
    });
    // The agents' CA: an asymmetric signing key (KMS cannot rotate those, nor export them).
    s.template.hasResource('AWS::KMS::Key', {
      Properties: { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' },
      DeletionPolicy: 'Retain',
    });
    // CloudWatch alarms may publish to the encrypted alarms topic, from this account only.
    s.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
          }),
        ]),
      },
    });
  });

  it('keeps certificates in a versioned, SSE-KMS, private, TLS-only bucket with lifecycle rules and access logs', () => {
    s.template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KEY },
            },
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^IssuerAccessLogs') } },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({
              NoncurrentVersionExpiration: { NoncurrentDays: 30 },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
              Status: 'Enabled',
            }),
            Match.objectLike({
              TagFilters: [{ Key: SUPERSEDED_TAG, Value: 'true' }],
              ExpirationInDays: 30,
              Status: 'Enabled',
            }),
            // Serial files expire by the lifetime class they were written with, plus 30 days.
            ...RETENTION_CLASSES.map((days) =>
              Match.objectLike({
                TagFilters: [{ Key: RETENTION_TAG, Value: String(days) }],
                ExpirationInDays: days + 30,
                Status: 'Enabled',
              }),
            ),
          ]),
        },
      },
    });
    // enforceSSL on both buckets; no statement grants anything to everyone.
    const policies = resourcesOf(s.template, 'AWS::S3::BucketPolicy');
    expect(policies).toHaveLength(2);
    for (const [, policy] of policies) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] })
        .Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
      expect(
        statements.filter((st) => st.Effect === 'Allow' && JSON.stringify(st.Principal).includes('"*"')),
      ).toEqual([]);
    }
    // Access logs: SSE-S3 (the only encryption S3 log delivery supports), private.
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: Match.objectLike({
        BlockPublicPolicy: true,
        RestrictPublicBuckets: true,
      }),
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 365 })] },
    });
  });

  it('builds the table from shared/dynamo/table.ts: on demand, PITR, TTL, due index, CMK, protected and retained', () => {
    s.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY },
        GlobalSecondaryIndexes: [
          {
            IndexName: DUE_INDEX_NAME,
            KeySchema: [
              { AttributeName: 'dueShard', KeyType: 'HASH' },
              { AttributeName: 'dueAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      },
    });
  });

  it('queues work on a KMS-encrypted, TLS-only queue with a dead-letter queue after 5 receives', () => {
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: KEY,
      VisibilityTimeout: 1800, // 6 x the issuer's 300 s
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerIssuerDeadLetters'), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: KEY,
      MessageRetentionPeriod: 1209600,
      RedrivePolicy: Match.absent(),
    });
    const queuePolicies = resourcesOf(s.template, 'AWS::SQS::QueuePolicy');
    // Issuer queue, DLQ and one per agent (two in the example).
    expect(queuePolicies).toHaveLength(4);
    for (const [, policy] of queuePolicies) {
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
  });

  it('runs seven Lambdas on nodejs22.x/arm64 with index.handler, their own log groups and roles', () => {
    const functions = resourcesOf(s.template, 'AWS::Lambda::Function').filter(
      ([id]) => !id.includes('framework'),
    );
    expect(functions.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'Issuer',
      'IssuerDeliver',
      'IssuerFleet',
      'IssuerIdentity',
      'IssuerInventorySync',
      'IssuerNotifier',
      'IssuerScheduler',
    ]);
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.stringMatching(/Logs/) } },
      });
    }
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    // No AWS managed policy on any role: every permission is written out.
    s.template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('limits the issuer: 5 minutes, reserved concurrency, SQS batches of 5 with partial failures', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('obtains or renews'),
      Timeout: 300,
      MemorySize: 256,
      ReservedConcurrentExecutions: 2,
    });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('gives each function only the environment it reads', () => {
    const env = (description: string) => {
      const [, fn] = resourcesOf(s.template, 'AWS::Lambda::Function').find(([, r]) =>
        String(r.Properties.Description).includes(description),
      )!;
      return Object.keys(
        (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables,
      ).sort();
    };
    expect(env('finds due')).toEqual([
      'CERTKEEPER_BUCKET',
      'CERTKEEPER_DIRECTORY_URL',
      'CERTKEEPER_QUEUE_URL',
      'CERTKEEPER_TABLE',
    ]);
    expect(env('obtains or renews')).toEqual([
      'CERTKEEPER_BUCKET',
      'CERTKEEPER_CONTACT',
      'CERTKEEPER_DIRECTORY_URL',
      'CERTKEEPER_KMS_KEY_ID',
      'CERTKEEPER_TABLE',
      'CERTKEEPER_TOPIC_ARN',
    ]);
    expect(env('alerts')).toEqual([
      'CERTKEEPER_NOTIFICATIONS_TOPIC_ARN',
      'CERTKEEPER_NOTIFY_TYPES',
      'CERTKEEPER_WEBHOOK_URL_SECRET_ARN',
    ]);
    // The bucket: the key kept for an unfinished order of a certificate a deploy retires goes.
    expect(env('declared certificates')).toEqual(['CERTKEEPER_BUCKET', 'CERTKEEPER_TABLE']);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          CERTKEEPER_DIRECTORY_URL: 'https://acme-staging-v02.api.letsencrypt.org/directory',
          CERTKEEPER_CONTACT: 'ops@example.com',
        }),
      },
    });
  });

  it('ticks the scheduler every scheduleMinutes and asks for stats hourly', () => {
    s.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      // The fleet view is evaluated on the same tick, and the agents' CRL published.
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerScheduler'), 'Arn'] } }),
        Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerFleet'), 'Arn'] } }),
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerIdentity'), 'Arn'] },
          Input: JSON.stringify(PUBLISH_CRL_EVENT),
        }),
      ],
    });
    s.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerScheduler'), 'Arn'] },
          Input: JSON.stringify(STATS_EVENT),
        }),
      ],
    });
  });

  it('has three KMS-encrypted, TLS-only topics; the notifier hears alert events and alarms', () => {
    s.template.resourceCountIs('AWS::SNS::Topic', 3);
    s.template.allResourcesProperties('AWS::SNS::Topic', { KmsMasterKeyId: KEY });
    for (const [, policy] of resourcesOf(s.template, 'AWS::SNS::TopicPolicy')) {
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
    // CloudWatch may publish to the alarms topic (its policy replaces SNS's default one).
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: Match.stringLikeRegexp('^IssuerAlarms') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': '123456789012' } }),
          }),
        ]),
      },
    });
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: { Ref: Match.stringLikeRegexp('^IssuerEvents') },
      FilterPolicy: { type: [...ALERT_EVENT_TYPES] },
    });
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: { Ref: Match.stringLikeRegexp('^IssuerAlarms') },
      FilterPolicy: Match.absent(),
    });
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: Match.stringLikeRegexp('^IssuerNotifications') },
    });
  });

  it('declares the certificates through the inventory-sync custom resource', () => {
    const [[, inventory]] = resourcesOf(s.template, 'Custom::CertkeeperInventory') as [
      [string, { Properties: { Certificates: string; ServiceToken: unknown } }],
    ];
    expect(JSON.parse(inventory.Properties.Certificates)).toEqual([
      {
        name: 'web-1',
        identifiers: [{ type: 'ip', value: '203.0.113.10' }],
        challenge: 'http-01',
        profile: 'shortlived',
        keyType: 'ecdsa-p256',
      },
      {
        name: 'site',
        identifiers: [
          { type: 'dns', value: 'example.com' },
          { type: 'dns', value: '*.example.com' },
        ],
        challenge: 'dns-01',
        keyType: 'ecdsa-p256',
      },
    ]);
    // The config's agents go to the registry through the same resource (gzipped: thousands
    // of them must not fill the template).
    const agents = (inventory.Properties as unknown as { AgentsGzip: string }).AgentsGzip;
    expect(JSON.parse(gunzipSync(Buffer.from(agents, 'base64')).toString('utf8'))).toEqual([
      { name: 'web-1', selector: { certificates: ['web-1'], labels: {} } },
      { name: 'proxy', selector: { certificates: ['site'], labels: {} } },
    ]);
    // The provider framework Lambda calls the inventory-sync function.
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          USER_ON_EVENT_FUNCTION_ARN: {
            'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerInventorySync'), 'Arn'],
          },
        },
      },
    });
  });

  it('alarms on dead letters, expiry, failing certificates, a missing heartbeat and issuer errors', () => {
    const alarm = (metric: string, props: Record<string, unknown>) =>
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^IssuerAlarms') }],
        EvaluationPeriods: 1,
        ...props,
      });
    alarm('ApproximateNumberOfMessagesVisible', {
      Namespace: 'AWS/SQS',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssuerIssuerDeadLetters'), 'QueueName'] },
        },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    const certkeeper = { Namespace: 'certkeeper', Dimensions: [{ Name: 'service', Value: 'certkeeper' }] };
    alarm('MinHoursToExpiry', { ...certkeeper, Threshold: 24, ComparisonOperator: 'LessThanThreshold' });
    alarm('CertificatesFailing', { ...certkeeper, Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    alarm('SchedulerTicks', {
      ...certkeeper,
      Statistic: 'Sum',
      Period: 1800, // two 15-minute intervals
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    alarm('Errors', {
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Issuer[0-9A-F]{8}$') } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    alarm('TargetsBehind', { Statistic: 'Maximum', Period: 900, Threshold: 0 });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'silent + unreachable' }),
        Match.objectLike({
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'AgentsSilent' }) }),
        }),
      ]),
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
  });

  it('has one dashboard with the alarms and the renewal metrics', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const [, dashboard] = resourcesOf(s.template, 'AWS::CloudWatch::Dashboard')[0]!;
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const metric of [
      'RenewalsOk',
      'RenewalsFailed',
      'AriPolls',
      'MinHoursToExpiry',
      'CertificatesFailing',
      'SchedulerTicks',
    ]) {
      expect(body).toContain(metric);
    }
  });

  it('outputs what operators wire servers and alerts to', () => {
    for (const output of [
      'BucketName',
      'TableName',
      'IssuerQueueUrl',
      'DeadLetterQueueUrl',
      'EventsTopicArn',
      'AlarmsTopicArn',
      'NotificationsTopicArn',
      'AgentEnrolmentUrl',
      'FleetTableName',
      'AgentRoleArn',
      'AgentTrustAnchorArn',
      'AgentProfileArn',
      'DeliverQueueUrl',
    ]) {
      s.template.hasOutput(output, {});
    }
  });
});

describe('CertkeeperIssuer with http01PublicRead', () => {
  it('lets anyone GET challenges/http-01/* through the bucket policy and nothing else; ACLs stay blocked', () => {
    const { template } = synth({ ...exampleConfigInput(), http01PublicRead: true });
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: false,
        RestrictPublicBuckets: false,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      // Anonymous readers cannot decrypt KMS objects: SSE-S3 by default, keys still SSE-KMS by the store.
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    });
    const publicStatements = resourcesOf(template, 'AWS::S3::BucketPolicy').flatMap(([, p]) =>
      (p.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement.filter(
        (st) => st.Effect === 'Allow' && JSON.stringify(st.Principal) === '{"AWS":"*"}',
      ),
    );
    expect(publicStatements).toEqual([
      {
        Sid: 'PublicReadHttp01ChallengesOnly',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 's3:GetObject',
        Resource: {
          'Fn::Join': [
            '',
            [{ 'Fn::GetAtt': [expect.stringMatching(/^IssuerBucket/), 'Arn'] }, `/${HTTP01_PREFIX}*`],
          ],
        },
      },
    ]);
    expect(JSON.stringify(template.toJSON())).not.toMatch(/AccessControl|PublicRead"/);
  });
});

describe('CertkeeperIssuer with every option on', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth(fullConfigInput());
  });

  it('passes the schedule and concurrency through', () => {
    s.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    s.template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 4 });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      ScalingConfig: { MaximumConcurrency: 4 },
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'SchedulerTicks', Period: 600 });
  });

  it('hands the issuer the EAB key id and only the ARN of the HMAC secret', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          CERTKEEPER_DIRECTORY_URL: 'https://acme.example.net/directory',
          CERTKEEPER_EAB_KID: 'kid-1',
          CERTKEEPER_EAB_HMAC_SECRET_ARN: Match.stringLikeRegexp('secret:certkeeper/eab-AbC123$'),
          CERTKEEPER_EAB_HMAC_KEY: Match.absent(),
        }),
      },
    });
  });

  it('tells the issuer, and only the issuer, which role reaches each zone in another account', () => {
    const withZoneRoles = resourcesOf(s.template, 'AWS::Lambda::Function').filter(([, fn]) => {
      const vars = (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      return vars?.CERTKEEPER_ZONE_ROLES !== undefined;
    });
    expect(withZoneRoles.map(([, fn]) => fn.Properties.Description)).toEqual([
      expect.stringContaining('obtains or renews'),
    ]);
    const env = (withZoneRoles[0]![1].Properties.Environment as { Variables: Record<string, string> })
      .Variables;
    // Only the zone with a roleArn (the other keeps the issuer's own role), in the form the
    // issuer's environment schema reads.
    const parsed = parseRuntimeEnv({
      CERTKEEPER_BUCKET: 'bucket',
      CERTKEEPER_TABLE: 'table',
      CERTKEEPER_DIRECTORY_URL: 'https://acme.example.net/directory',
      CERTKEEPER_ZONE_ROLES: env.CERTKEEPER_ZONE_ROLES,
    });
    expect(parsed.CERTKEEPER_ZONE_ROLES).toEqual({
      Z0OTHERACCOUNTZONE: 'arn:aws:iam::210987654321:role/certkeeper-dns',
    });
  });

  it('configures every notifier channel and subscribes every email address', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN: Match.stringLikeRegexp('certkeeper/telegram'),
          CERTKEEPER_TELEGRAM_CHAT_ID: '-100123',
          CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN: Match.stringLikeRegexp('certkeeper/slack'),
          CERTKEEPER_WEBHOOK_URL_SECRET_ARN: Match.stringLikeRegexp('certkeeper/webhook'),
        }),
      },
    });
    for (const address of ['ops@example.com', 'oncall@example.com']) {
      s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: address });
    }
  });
});
