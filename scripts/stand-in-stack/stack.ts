/**
 * A local stand-in for the deployed stack, on the local peers: the bucket (with a KMS key),
 * the table, the issuer queue, the events topic with an SQS "tap" subscribed to it, and a
 * Route53 hosted zone. The demo and the end-to-end tests build one and point the real
 * handlers at it through the same environment variables the CDK stack sets.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createTable } from '../../shared/dynamo/table.js';

export interface PeerEndpoints {
  motoEndpoint: string;
  dynamodbEndpoint: string;
  directoryUrl: string;
  /** Path of the PEM that signed the ACME server's HTTPS certificate. */
  acmeCaPath: string;
  /** "host:port" answering DNS for the Route53 zones (the DNS-01 visibility check). */
  dnsServer: string;
}

export interface StandInStackOptions {
  /** Prefix of every resource name, unique per test file or demo run. */
  id: string;
  /** Hosted zones to create, e.g. ["example.test"]. */
  zones?: string[];
}

export interface StandInStack {
  bucket: string;
  table: string;
  kmsKeyId: string;
  queueUrl: string;
  topicArn: string;
  /** An SQS queue subscribed to the topic (raw delivery), to observe events. */
  tapQueueUrl: string;
  zoneIds: Record<string, string>;
  /** The environment the handlers read, as the CDK stack would set it. */
  env: Record<string, string>;
  clients: { s3: S3Client; sqs: SQSClient; sns: SNSClient; route53: Route53Client; dynamodb: DynamoDBClient };
}

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const region = 'us-east-1';

/**
 * A new SQS queue subscribed to `topicArn` (raw delivery unless `attributes` say otherwise);
 * its URL.
 */
export async function subscribeNewQueue(
  clients: { sqs: SQSClient; sns: SNSClient },
  topicArn: string,
  queueName: string,
  attributes: Record<string, string> = { RawMessageDelivery: 'true' },
): Promise<string> {
  const { QueueUrl } = await clients.sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  await clients.sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: Attributes?.QueueArn,
      Attributes: attributes,
    }),
  );
  return QueueUrl!;
}

export async function createStandInStack(
  peers: PeerEndpoints,
  options: StandInStackOptions,
): Promise<StandInStack> {
  const moto = { endpoint: peers.motoEndpoint, region, credentials };
  const clients = {
    s3: new S3Client({ ...moto, forcePathStyle: true }),
    sqs: new SQSClient(moto),
    sns: new SNSClient(moto),
    route53: new Route53Client(moto),
    dynamodb: new DynamoDBClient({ endpoint: peers.dynamodbEndpoint, region, credentials }),
  };
  const kms = new KMSClient(moto);
  const id = options.id;

  const bucket = `${id}-certs`;
  const table = `${id}-inventory`;
  const [, , key, queue, topic] = await Promise.all([
    clients.s3.send(new CreateBucketCommand({ Bucket: bucket })),
    createTable(clients.dynamodb, table),
    kms.send(new CreateKeyCommand({ Description: `${id} certificate keys` })),
    clients.sqs.send(new CreateQueueCommand({ QueueName: `${id}-issuer` })),
    clients.sns.send(new CreateTopicCommand({ Name: `${id}-events` })),
  ]);
  const tapQueueUrl = await subscribeNewQueue(clients, topic.TopicArn!, `${id}-events-tap`);
  const zoneIds: Record<string, string> = {};
  for (const zone of options.zones ?? []) {
    const created = await clients.route53.send(
      new CreateHostedZoneCommand({ Name: zone, CallerReference: `${id}-${zone}` }),
    );
    zoneIds[zone] = created.HostedZone!.Id!.replace('/hostedzone/', '');
  }

  const stack = {
    bucket,
    table,
    kmsKeyId: key.KeyMetadata!.KeyId!,
    queueUrl: queue.QueueUrl!,
    topicArn: topic.TopicArn!,
    tapQueueUrl,
    zoneIds,
    clients,
  };
  return {
    ...stack,
    env: {
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_ENDPOINT_URL: peers.motoEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: peers.dynamodbEndpoint,
      CERTKEEPER_S3_FORCE_PATH_STYLE: 'true',
      CERTKEEPER_BUCKET: bucket,
      CERTKEEPER_TABLE: table,
      CERTKEEPER_KMS_KEY_ID: stack.kmsKeyId,
      CERTKEEPER_QUEUE_URL: stack.queueUrl,
      CERTKEEPER_TOPIC_ARN: stack.topicArn,
      CERTKEEPER_DIRECTORY_URL: peers.directoryUrl,
      CERTKEEPER_CONTACT: 'ops@example.test',
      CERTKEEPER_ACME_CA_PEM: peers.acmeCaPath,
      CERTKEEPER_DNS_RESOLVERS: peers.dnsServer,
    },
  };
}
