import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { sqsDeliveryRequests } from '../shared/agents/delivery-requests.js';
import { DynamoAgentRegistry } from '../shared/agents/dynamodb.js';
import { DynamoAgentInboxes } from '../shared/agents/inbox-dynamodb.js';
import type { EventPublisher } from '../shared/events/publisher.js';
import { DynamoAgentReports } from '../shared/fleet/reports-dynamodb.js';
import { ObjectAgentReports } from '../shared/fleet/reports-objects.js';
import { SnsPublisher } from '../shared/events/sns.js';
import { DEFAULT_FLEET_RULES } from '../shared/fleet/evaluate.js';
import { type FleetMonitorDeps, type FleetTickResult, monitorFleet } from '../shared/fleet/monitor.js';
import { MINUTE } from '../shared/model/clock.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import { type Runtime, runtime } from './runtime.js';

/**
 * The fleet view, on the scheduler's tick: reads every agent's report, probes the declared
 * endpoints, compares what each delivery target has with the current serial, and publishes
 * lagging / recovered events on changes. A Lambda of its own so the scheduler never reads
 * the bucket, and so a VPC can be attached to it alone when probes must reach private
 * servers (a probe reaches what this Lambda's network reaches).
 */
export const handler = async (): Promise<FleetTickResult> => {
  const rt = await runtime();
  const result = await monitorFleet(fleetDeps(rt));
  const s = result.summary;
  rt.metrics.addMetric('FleetTargets', MetricUnit.Count, s.targets);
  rt.metrics.addMetric('TargetsBehind', MetricUnit.Count, s.behind);
  rt.metrics.addMetric('AgentsSilent', MetricUnit.Count, s.silent);
  rt.metrics.addMetric('TargetsUnreachable', MetricUnit.Count, s.unreachable);
  rt.metrics.addMetric('TargetsExpiring', MetricUnit.Count, s.expiring);
  rt.metrics.addMetric('AgentReportsIgnored', MetricUnit.Count, result.ignoredReports.length);
  rt.metrics.addMetric('AgentReportsFromRemoved', MetricUnit.Count, result.removedReports);
  rt.metrics.addMetric('AgentsRedelivered', MetricUnit.Count, result.redelivered.length);
  rt.metrics.publishStoredMetrics();
  return result;
};

/** Clients once per cold start (per runtime, which tests may replace), not per tick. */
const composed = new WeakMap<Runtime, FleetMonitorDeps>();

function fleetDeps(rt: Runtime): FleetMonitorDeps {
  let deps = composed.get(rt);
  if (!deps) {
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
    deps = {
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
    composed.set(rt, deps);
  }
  return deps;
}
