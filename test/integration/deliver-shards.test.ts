/**
 * A certificate many agents receive, split across deliver invocations, on the peers: the
 * event goes through the topic to the deliver queue (SNS and SQS on moto), the deliver
 * function (functions/deliver.ts with its real composition) puts shard messages back on its
 * own queue, and each shard, a separate invocation, fills its agents' inboxes (DynamoDB
 * Local) with envelopes in S3. The shard size is 3 here (CERTKEEPER_DELIVER_SHARD_SIZE), so
 * ten receiving agents are four shards.
 */
import { SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsRuntime } from '../../functions/agents-runtime.js';
import { handler as deliver } from '../../functions/deliver.js';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { newDeliveryKey } from '../../shared/agents/envelope.js';
import { DynamoAgentInboxes } from '../../shared/agents/inbox-dynamodb.js';
import { joinedRecord, newAgentRecord } from '../../shared/agents/records.js';
import { shardOf } from '../../shared/agents/shards.js';
import { SnsPublisher } from '../../shared/events/sns.js';
import { newSerial } from '../../shared/identity/x509.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import type { AgentSelector } from '../../shared/model/agent.js';
import { agentDeliveryKey } from '../../shared/store/layout.js';
import { S3CertificateStore } from '../../shared/store/s3-store.js';
import { deliverCertificate } from '../../shared/usecases/deliver-certificates.js';
import { receiveAll, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { type AgentsStack, createAgentsStack, pointAgentFunctionsAt } from '../../scripts/test-kit/agents.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { createTestCa, recordIssued } from '../support/test-ca.js';

const EDGE = Array.from({ length: 10 }, (_, i) => `edge-${i + 1}`);
const WEB = ['web-1', 'web-2'];
const CERTIFICATE = 'edge-wide';

let stack: StandInStack;
let agents: AgentsStack;
let inboxes: DynamoAgentInboxes;

beforeAll(async () => {
  stack = await useStandInStack('shards');
  agents = await createAgentsStack(stack);
  agents.env.CERTKEEPER_DELIVER_SHARD_SIZE = '3';
  pointAgentFunctionsAt(agents);
  const registry = new DynamoAgentRegistry({ client: stack.clients.dynamodb, tableName: stack.table });
  inboxes = new DynamoAgentInboxes({ client: stack.clients.dynamodb, tableName: agents.fleetTable });
  const join = async (name: string, selector: AgentSelector): Promise<void> => {
    const now = new Date();
    const identity = {
      serial: newSerial(),
      notBefore: now.toISOString(),
      notAfter: new Date(now.getTime() + 86_400_000).toISOString(),
      issuedAt: now.toISOString(),
    };
    await registry.update(name, () =>
      joinedRecord(newAgentRecord(name, selector, 'cli', now), identity, newDeliveryKey().publicKeyDer, now),
    );
  };
  for (const name of EDGE) await join(name, { certificates: [], labels: { role: 'edge' } });
  for (const name of WEB) await join(name, { certificates: [], labels: { role: 'web' } });
});

afterAll(() => {
  delete process.env.CERTKEEPER_DELIVER_SHARD_SIZE;
  for (const client of Object.values(stack.clients)) client.destroy();
});

/** What the issuer leaves: the serial's files and manifest, the state naming it current. */
async function issue(): Promise<{ serial: string }> {
  const ca = await createTestCa();
  const issued = await ca.issue({ identifiers: ['edge.example.test'] });
  const inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  const store = new S3CertificateStore(stack.clients.s3, { bucket: stack.bucket, kmsKeyId: stack.kmsKeyId });
  await recordIssued(
    { inventory, store },
    { name: CERTIFICATE, identifiers: ['edge.example.test'], labels: { role: 'edge' } },
    issued,
  );
  return issued;
}

/** The deliver queue's messages, each handed to its own deliver invocation (batch size 1). */
async function invokeEach(): Promise<{ bodies: string[]; failures: number }> {
  const messages = await receiveAll(stack.clients.sqs, agents.deliverQueueUrl);
  let failures = 0;
  for (const message of messages) {
    const failed = (await deliver(sqsEvent([message]))).batchItemFailures.length;
    failures += failed;
    // What the event source mapping does with a message the function did not fail.
    if (!failed) {
      await stack.clients.sqs.send(
        new DeleteMessageCommand({ QueueUrl: agents.deliverQueueUrl, ReceiptHandle: message.ReceiptHandle! }),
      );
    }
  }
  return { bodies: messages.map((m) => m.Body!), failures };
}

describe('a certificate for more agents than one invocation serves', () => {
  it('is split into shards on the deliver queue, and the shards together reach every receiving agent once', async () => {
    const issued = await issue();
    const sns = new SNSClient({
      endpoint: stack.env.AWS_ENDPOINT_URL,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await new SnsPublisher(sns, { topicArn: stack.topicArn }).publish({
      type: 'certificate.issued',
      certificate: CERTIFICATE,
      identifiers: ['edge.example.test'],
      serial: issued.serial,
      at: new Date().toISOString(),
    });
    sns.destroy();

    // The event's invocation delivers nothing itself: it asks for ceil(10 / 3) = 4 shards.
    const first = await invokeEach();
    expect(first.failures).toBe(0);
    expect(first.bodies).toHaveLength(1);
    for (const name of [...EDGE, ...WEB]) expect(await inboxes.get(name)).toBeUndefined();

    const shards = await invokeEach();
    expect(shards.failures).toBe(0);
    const asked = shards.bodies.map(
      (b) =>
        (JSON.parse(b) as { deliver: { certificate: string; shard: { index: number; count: number } } })
          .deliver,
    );
    expect(asked.map((d) => d.certificate)).toEqual(Array(4).fill(CERTIFICATE));
    expect(asked.map((d) => d.shard.index).sort()).toEqual([0, 1, 2, 3]);
    expect(new Set(asked.map((d) => d.shard.count))).toEqual(new Set([4]));
    // Nothing further: a shard never splits again.
    expect((await invokeEach()).bodies).toEqual([]);

    for (const name of EDGE) {
      const entry = (await inboxes.get(name))?.entries[CERTIFICATE];
      expect(entry?.serial, name).toBe(issued.serial);
      expect(entry?.key).toBe(agentDeliveryKey(name, CERTIFICATE, issued.serial));
    }
    for (const name of WEB) expect(await inboxes.get(name)).toBeUndefined();
    // Every shard served agents (the hash spreads these ten over all four).
    expect(new Set(EDGE.map((name) => shardOf(name, 4)))).toEqual(new Set([0, 1, 2, 3]));
  });

  it('drops a malformed shard message without failing it (it would never get better), and the others go on', async () => {
    const send = (body: string) =>
      stack.clients.sqs.send(new SendMessageCommand({ QueueUrl: agents.deliverQueueUrl, MessageBody: body }));
    await send(JSON.stringify({ deliver: { certificate: CERTIFICATE, shard: { index: 4, count: 4 } } }));
    await send(JSON.stringify({ deliver: { certificate: '../etc', shard: { index: 0, count: 1 } } }));
    await send(JSON.stringify({ deliver: { agent: 'edge-1' } }));
    const handled = await invokeEach();
    expect(handled.bodies).toHaveLength(3);
    expect(handled.failures).toBe(0);
    expect((await inboxes.get('edge-1'))?.entries[CERTIFICATE]).toBeDefined();
  });

  it('each shard serves its own agents and no other: together every receiving agent, once', async () => {
    const renewed = await issue();
    const { delivery } = await agentsRuntime();
    const served: string[][] = [];
    for (let index = 0; index < 4; index++) {
      const result = await deliverCertificate(delivery, CERTIFICATE, { index, count: 4 });
      expect(result.failed).toEqual([]);
      expect(result.shards).toBeUndefined();
      expect(result.delivered).toEqual(EDGE.filter((name) => shardOf(name, 4) === index).sort());
      served.push(result.delivered);
    }
    expect(served.flat().sort()).toEqual([...EDGE].sort());
    for (const name of EDGE) {
      expect((await inboxes.get(name))?.entries[CERTIFICATE]?.serial).toBe(renewed.serial);
    }
  });
});
