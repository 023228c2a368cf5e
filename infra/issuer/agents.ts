/**
 * Agents as data, with an identity of their own: the same resources for 0 or 10,000 servers.
 *
 * - the agents' CA: a KMS asymmetric key (ECC_NIST_P256, sign only: never exportable) and its
 *   certificate, signed by that key at deploy (the AgentCa custom resource, served by the
 *   inventory-sync function), registered as an IAM Roles Anywhere trust anchor;
 * - ONE agent role, assumable through Roles Anywhere from that trust anchor only, whose
 *   policy gives each session what its certificate's CN names (principal tag
 *   x509Subject/CN): its own deliveries, its own inbox, its own report;
 * - the fleet table agents read and write (inboxes, reports);
 * - the identity function: enrolment and renewal of client certificates over a function URL,
 *   and the CRL on every scheduler tick;
 * - the deliver function: every issuance sealed into the inboxes of the agents that select it.
 */
import { Aws, CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as rolesanywhere from 'aws-cdk-lib/aws-rolesanywhere';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { createFleetTableInput, inboxKey, pollKey } from '../../shared/dynamo/fleet-table.js';
import { CERTIFICATES_PREFIX, agentPrefix } from '../../shared/store/layout.js';
import { AGENT_NAME_TAG, createAgentRole } from './agent-role.js';
import { allow, type FunctionFactory, logicalIdOf } from './lambda.js';
import type { IssuerPipeline } from './pipeline.js';
import type { IssuerStorage } from './storage.js';

export { AGENT_NAME_TAG };

/** Sessions last this long at most: a removed agent's credentials die with them. */
export const AGENT_SESSION_SECONDS = 900;

/** Input the scheduler's rule sends the identity function: publish the CRL if it changed. */
export const PUBLISH_CRL_EVENT = { action: 'publish-crl' } as const;

export interface IssuerAgentsProps {
  readonly agentIdentityHours: number;
}

const KEY_USE = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'];

/** The items of the fleet table that delivery writes (an agent's inbox and its poll), not the reports. */
export const INBOX_ITEMS = {
  'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [pollKey('*'), inboxKey('*')] },
};

/** Made in the CertkeeperIssuer's own scope, so every logical ID is the issuer's (see storage.ts). */
export class IssuerAgents {
  /** The agents' CA key: signs client certificates and the CRL, inside KMS. */
  readonly caKey: kms.Key;
  /** The CA certificate (attribute CertificatePem), made at deploy by signing with caKey. */
  readonly ca: CustomResource;
  readonly trustAnchor: rolesanywhere.CfnTrustAnchor;
  readonly profile: rolesanywhere.CfnProfile;
  /** The one role every agent session assumes; its policies scope each session to its own name. */
  readonly agentRole: iam.Role;
  /** Inboxes and reports (shared/dynamo/fleet-table.ts). */
  readonly fleetTable: dynamodb.Table;
  /** Enrolment, identity renewal, the CRL. */
  readonly identity: lambda.Function;
  readonly enrolmentUrl: lambda.FunctionUrl;
  /** Seals each issuance into the inboxes of the agents that select it. */
  readonly deliver: lambda.Function;
  /** Deliveries to make: certificate events from the topic, and agents named by the identity and fleet functions. */
  readonly deliverQueue: sqs.Queue;
  readonly deliverDeadLetters: sqs.Queue;

  constructor(
    private readonly scope: Construct,
    storage: IssuerStorage,
    pipeline: IssuerPipeline,
    fn: FunctionFactory,
    props: IssuerAgentsProps,
  ) {
    const stack = Stack.of(scope);
    const { key, bucket, table } = storage;

    this.caKey = new kms.Key(scope, 'AgentCaKey', {
      description: 'certkeeper: the agents CA (signs client certificates and the CRL; never leaves KMS)',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      // Every agent identity chains to it: deleting it would cut off the whole fleet.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.caKey, [
      {
        id: 'AwsSolutions-KMS5',
        reason: 'KMS cannot rotate asymmetric keys; the CA key signs, it encrypts nothing.',
      },
    ]);
    this.ca = new CustomResource(scope, 'AgentCa', {
      serviceToken: pipeline.inventoryServiceToken,
      resourceType: 'Custom::CertkeeperAgentCa',
      properties: { KeyId: this.caKey.keyArn, CommonName: `certkeeper agents ${stack.stackName}` },
    });
    allow(pipeline.inventorySync, ['kms:GetPublicKey', 'kms:Sign'], [this.caKey.keyArn]);

    this.trustAnchor = new rolesanywhere.CfnTrustAnchor(scope, 'AgentTrustAnchor', {
      name: `${stack.stackName}-agents`,
      enabled: true,
      source: {
        sourceType: 'CERTIFICATE_BUNDLE',
        sourceData: { x509CertificateData: this.ca.getAttString('CertificatePem') },
      },
    });
    this.fleetTable = this.createFleetTable();
    this.agentRole = createAgentRole(scope, {
      trustAnchorArn: this.trustAnchor.attrTrustAnchorArn,
      bucket,
      key,
      fleetTable: this.fleetTable,
    });
    this.profile = new rolesanywhere.CfnProfile(scope, 'AgentProfile', {
      name: `${stack.stackName}-agents`,
      enabled: true,
      roleArns: [this.agentRole.roleArn],
      durationSeconds: AGENT_SESSION_SECONDS,
    });

    // SSE-SQS: the messages carry certificate and agent names, no secret; and a queue under
    // the stack's key, subscribed to a topic under it, would make the key's policy name the
    // topic and the topic depend on the key (a cycle).
    this.deliverDeadLetters = new sqs.Queue(scope, 'DeliverDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.deliverQueue = new sqs.Queue(scope, 'DeliverQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.minutes(6 * 5),
      deadLetterQueue: { queue: this.deliverDeadLetters, maxReceiveCount: 5 },
    });
    pipeline.eventsTopic.addSubscription(
      new subscriptions.SqsSubscription(this.deliverQueue, {
        rawMessageDelivery: true,
        // One subscription for the whole fleet: who receives a certificate is decided by the
        // deliver function from the registry, never by a filter policy per agent.
        filterPolicy: {
          type: sns.SubscriptionFilter.stringFilter({
            allowlist: ['certificate.issued', 'certificate.renewed'],
          }),
        },
      }),
    );

    this.identity = fn('identity', {
      description: 'certkeeper: enrols agents, renews their client certificates, publishes the CRL',
      timeout: Duration.seconds(30),
      memorySize: 256,
      // An unauthenticated URL: a cap on what it can cost while it refuses bad tokens.
      reservedConcurrentExecutions: 5,
      environment: {
        CERTKEEPER_TABLE: table.tableName,
        CERTKEEPER_BUCKET: bucket.bucketName,
        CERTKEEPER_FLEET_TABLE: this.fleetTable.tableName,
        CERTKEEPER_AGENT_CA_KEY_ID: this.caKey.keyArn,
        CERTKEEPER_AGENT_CA_CERT: this.ca.getAttString('CertificatePem'),
        CERTKEEPER_AGENT_IDENTITY_SECONDS: String(props.agentIdentityHours * 3600),
        CERTKEEPER_AGENT_TRUST_ANCHOR_ARN: this.trustAnchor.attrTrustAnchorArn,
        CERTKEEPER_AGENT_PROFILE_ARN: this.profile.attrProfileArn,
        CERTKEEPER_AGENT_ROLE_ARN: this.agentRole.roleArn,
        CERTKEEPER_DELIVER_QUEUE_URL: this.deliverQueue.queueUrl,
      },
    });
    this.enrolmentUrl = this.identity.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.deliver = fn('deliver', {
      description: 'certkeeper: seals each issued certificate into the inboxes of the agents that select it',
      timeout: Duration.minutes(5),
      memorySize: 512,
      environment: {
        CERTKEEPER_TABLE: table.tableName,
        CERTKEEPER_BUCKET: bucket.bucketName,
        CERTKEEPER_KMS_KEY_ID: key.keyArn,
        CERTKEEPER_FLEET_TABLE: this.fleetTable.tableName,
        // Where it puts the shards of a certificate many agents receive.
        CERTKEEPER_DELIVER_QUEUE_URL: this.deliverQueue.queueUrl,
      },
    });
    this.deliver.addEventSource(
      new SqsEventSource(this.deliverQueue, {
        // One message an invocation: a certificate's shards then run side by side (up to
        // maxConcurrency), not one after another in the invocation that received them.
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: 5,
      }),
    );
    this.grants(storage);
  }

  /**
   * The CRL on the scheduler's tick. Called once the rule's other targets are in place, so
   * theirs keep their target ids in a stack deployed before agents had an identity.
   */
  publishCrlOn(rule: events.Rule): void {
    rule.addTarget(
      new targets.LambdaFunction(this.identity, {
        event: events.RuleTargetInput.fromObject(PUBLISH_CRL_EVENT),
        retryAttempts: 1,
      }),
    );
  }

  /** Stack outputs' values an operator (and the CLI) needs. */
  outputs(): Record<string, { value: string; description: string }> {
    return {
      AgentEnrolmentUrl: {
        value: this.enrolmentUrl.url,
        description: 'what agent join tokens point servers at',
      },
      FleetTableName: { value: this.fleetTable.tableName, description: 'agent inboxes and reports' },
      AgentRoleArn: { value: this.agentRole.roleArn, description: 'the role every agent session assumes' },
      AgentTrustAnchorArn: {
        value: this.trustAnchor.attrTrustAnchorArn,
        description: 'Roles Anywhere trust anchor of the agents CA',
      },
      AgentProfileArn: {
        value: this.profile.attrProfileArn,
        description: 'Roles Anywhere profile of the agent role',
      },
      DeliverQueueUrl: {
        value: this.deliverQueue.queueUrl,
        description: 'deliveries to agents (certificate events, agent names)',
      },
    };
  }

  private createFleetTable(): dynamodb.Table {
    const input = createFleetTableInput('unused');
    const pk = input.KeySchema![0]!.AttributeName!;
    const table = new dynamodb.Table(this.scope, 'FleetTable', {
      partitionKey: { name: pk, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // AWS owned key on purpose (see shared/dynamo/fleet-table.ts): a customer managed key
      // costs a KMS request per agent connection every five minutes; nothing here is secret.
      encryption: dynamodb.TableEncryption.DEFAULT,
      // Regenerated by the next delivery and report: nothing is lost with the table.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    NagSuppressions.addResourceSuppressions(table, [
      {
        id: 'AwsSolutions-DDB3',
        reason:
          'Inboxes and reports are rewritten by the next delivery and the next agent report; a restore would bring back stale ones.',
      },
    ]);
    return table;
  }

  private grants(storage: IssuerStorage): void {
    const { key, bucket, table } = storage;
    const { identity, deliver, fleetTable, deliverQueue } = this;
    // The registry (agent# items; Scan: every agent for the CRL), the CA key, the queue.
    allow(identity, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan'], [table.tableArn]);
    allow(identity, KEY_USE, [key.keyArn]);
    allow(identity, ['kms:GetPublicKey', 'kms:Sign'], [this.caKey.keyArn]);
    allow(identity, ['sqs:SendMessage'], [deliverQueue.queueArn]);
    allow(identity, ['rolesanywhere:ListCrls'], ['*']);
    allow(
      identity,
      ['rolesanywhere:ImportCrl', 'rolesanywhere:UpdateCrl'],
      [
        `arn:${Aws.PARTITION}:rolesanywhere:${Aws.REGION}:${Aws.ACCOUNT_ID}:crl/*`,
        this.trustAnchor.attrTrustAnchorArn,
      ],
    );
    NagSuppressions.addResourceSuppressions(
      identity.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ListCrls has no resource-level permission; ImportCrl makes a CRL whose id is not known before (crl/*), and UpdateCrl changes that one.',
          appliesTo: [
            'Resource::*',
            `Resource::arn:<AWS::Partition>:rolesanywhere:<AWS::Region>:<AWS::AccountId>:crl/*`,
          ],
        },
      ],
      true,
    );

    // Deliver: the inventory and the registry (read), the certificates (with their keys),
    // envelopes under agents/<agent>/deliveries/, the inboxes, its own queue (shards).
    allow(deliver, ['dynamodb:GetItem', 'dynamodb:Scan'], [table.tableArn]);
    allow(deliver, KEY_USE, [key.keyArn]);
    allow(deliver, ['s3:GetObject'], [bucket.arnForObjects(`${CERTIFICATES_PREFIX}*`)]);
    allow(
      deliver,
      ['s3:PutObject', 's3:PutObjectTagging'],
      [bucket.arnForObjects(`${agentPrefix('*')}deliveries/*`)],
    );
    allow(deliver, ['s3:ListBucket'], [bucket.bucketArn]);
    allow(deliver, ['sqs:SendMessage'], [deliverQueue.queueArn]);
    // Inboxes only: the reports are the agents' own.
    allow(
      deliver,
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      [fleetTable.tableArn],
      INBOX_ITEMS,
    );
    NagSuppressions.addResourceSuppressions(
      deliver.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Delivery reads every certificate it seals (certificates/*) and writes the envelopes of every agent (agents/*/deliveries/*); names come from the registry at run time.',
          appliesTo: [
            `Resource::<${logicalIdOf(bucket)}.Arn>/${CERTIFICATES_PREFIX}*`,
            `Resource::<${logicalIdOf(bucket)}.Arn>/${agentPrefix('*')}deliveries/*`,
          ],
        },
      ],
      true,
    );
  }
}
