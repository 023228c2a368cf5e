import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { sqsDeliveryRequests } from '../shared/agents/delivery-requests.js';
import { DynamoAgentRegistry } from '../shared/agents/dynamodb.js';
import { DynamoAgentInboxes } from '../shared/agents/inbox-dynamodb.js';
import type { EventPublisher } from '../shared/events/publisher.js';
import { SnsPublisher } from '../shared/events/sns.js';
import { DEFAULT_FLEET_RULES } from '../shared/fleet/evaluate.js';
import type { FleetMonitorDeps } from '../shared/fleet/monitor.js';
import { DynamoAgentReports } from '../shared/fleet/reports-dynamodb.js';
import { ObjectAgentReports } from '../shared/fleet/reports-objects.js';
import { MINUTE } from '../shared/model/clock.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import type { Runtime } from './aws.js';

/**
 * The fleet tick's parts over a handler runtime (aws.ts): the bucket, the agent reports of
 * both modes, the registry and, with a fleet table and a deliver queue, the inboxes that are
 * delivered again. Built once per cold start by functions/fleet.ts. Nothing here decides
 * anything.
 */
export function buildFleetDeps(rt: Runtime): FleetMonitorDeps {
  const region = rt.env.AWS_REGION;
  const lagMinutes =
    Number(process.env.CERTKEEPER_FLEET_LAG_MINUTES ?? '') || DEFAULT_FLEET_RULES.lagMs / MINUTE;
  const topicArn = rt.env.CERTKEEPER_TOPIC_ARN;
  const events: EventPublisher = topicArn
    ? new SnsPublisher(new SNSClient({ region }), { topicArn, clock: rt.clock })
    : { publish: async (event) => rt.log.info('event (no topic configured)', { event }) };
  const s3 = new S3Client({ region, forcePathStyle: rt.env.CERTKEEPER_S3_FORCE_PATH_STYLE });
  const objects = new S3ObjectStore(s3, { bucket: rt.env.CERTKEEPER_BUCKET, clock: rt.clock });
  const fleetTableName = process.env.CERTKEEPER_FLEET_TABLE;
  const deliverQueue = process.env.CERTKEEPER_DELIVER_QUEUE_URL;
  const dynamodb = new DynamoDBClient({ region });
  const fleetTable = fleetTableName
    ? { client: dynamodb, tableName: fleetTableName, clock: rt.clock }
    : undefined;
  const sqs = new SQSClient({ region });
  return {
    inventory: rt.inventory,
    objects,
    // Registry agents report to the fleet table; agents in direct mode to the bucket.
    reports: [...(fleetTable ? [new DynamoAgentReports(fleetTable)] : []), new ObjectAgentReports(objects)],
    registry: new DynamoAgentRegistry({
      client: dynamodb,
      tableName: rt.env.CERTKEEPER_TABLE,
      clock: rt.clock,
    }),
    ...(fleetTable && deliverQueue
      ? {
          inboxes: new DynamoAgentInboxes(fleetTable),
          requestDelivery: sqsDeliveryRequests(sqs, deliverQueue, rt.clock),
        }
      : {}),
    events,
    clock: rt.clock,
    log: rt.log,
    rules: { ...DEFAULT_FLEET_RULES, lagMs: lagMinutes * MINUTE },
  };
}
