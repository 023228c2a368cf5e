/**
 * The stack's side of bench/fleet.ts, in a process of its own (the Lambdas run elsewhere
 * than the servers, and the agents' CPU must not slow them here): the scheduler and issuer
 * handlers on demand, and the deliver function pumped continuously, as the SQS event source
 * mapping would run it (a loop over pumpDeliveries). Started by bench/fleet.ts with fork()
 * under tsx, with the stand-in stack's environment; speaks over IPC (LambdaRequest in,
 * LambdaReply out). Never by hand.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { handler as issuer } from '../../functions/issuer.js';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { manifestKey } from '../../shared/store/layout.js';
import type { Manifest } from '../../shared/store/store.js';
import { runTick, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { type AgentsStack, pumpDeliveries } from '../../scripts/test-kit/agents.js';
import { requestKind } from './aws-request-kind.mjs';

export interface LambdaSideConfig {
  stack: Omit<StandInStack, 'clients'>;
  agents: AgentsStack;
  certificate: string;
}

export type LambdaRequest = { op: 'tick' } | { op: 'renew'; id: number } | { op: 'stop' };

export type LambdaReply =
  | { op: 'ready' }
  | { op: 'ticked'; failures: number; enqueued: number }
  | {
      op: 'renewed';
      id: number;
      invokedAt: number;
      /** When a HeadObject of the manifest (every MANIFEST_POLL_MS) first saw it replaced. */
      storedAt: number;
      serial: string;
      failures: number;
    }
  /**
   * One pumpDeliveries call that handled messages: its wall and CPU time and the requests it
   * sent (the deliver function's, and the event source's SQS receives and deletes).
   */
  | {
      op: 'pumped';
      startedAt: number;
      endedAt: number;
      handled: number;
      cpuMs: number;
      calls: Record<string, number>;
    }
  /** Something went wrong beside a request (the pump): noted, the run goes on. */
  | { op: 'error'; message: string }
  /** A request failed: its answer will not come. */
  | { op: 'failed'; request: LambdaRequest['op']; message: string }
  | { op: 'stopped'; cpuMs: number };

const MANIFEST_POLL_MS = 20;
/** Between two empty receives: Lambda's pollers long-poll, so a message waits about this long at most. */
const PUMP_IDLE_MS = 200;

const config = JSON.parse(process.argv[2] ?? '{}') as LambdaSideConfig;
const send = (reply: LambdaReply) => process.send!(reply);

const region = config.stack.env.AWS_REGION ?? 'us-east-1';
const moto = { endpoint: config.stack.env.AWS_ENDPOINT_URL, region };
const stack: StandInStack = {
  ...config.stack,
  clients: {
    s3: new S3Client({ ...moto, forcePathStyle: true }),
    sqs: new SQSClient(moto),
    sns: new SNSClient(moto),
    route53: new Route53Client(moto),
    dynamodb: new DynamoDBClient({ endpoint: config.stack.env.AWS_ENDPOINT_URL_DYNAMODB, region }),
  },
};
const key = manifestKey(config.certificate);

const etag = async (): Promise<string | undefined> =>
  (await stack.clients.s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }))).ETag;

/** A forced renewal through the issuer handler, timed to the manifest stored (HeadObject poll). */
async function renew(id: number): Promise<void> {
  const before = await etag();
  const invokedAt = Date.now();
  let issued = false;
  const issuing = issuer(
    sqsEvent([
      { MessageId: crypto.randomUUID(), Body: JSON.stringify(forcedRenewal(config.certificate, new Date())) },
    ]),
  ).finally(() => (issued = true));
  let storedAt: number | undefined;
  while (storedAt === undefined) {
    const at = Date.now();
    if ((await etag().catch(() => before)) !== before) storedAt = at;
    else if (issued) break;
    else await sleep(MANIFEST_POLL_MS);
  }
  const response = await issuing;
  const { Body } = await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  const manifest = JSON.parse(await Body!.transformToString()) as Manifest;
  send({
    op: 'renewed',
    id,
    invokedAt,
    storedAt: storedAt ?? Date.now(),
    serial: manifest.serial,
    failures: response.batchItemFailures.length,
  });
}

/** The requests of the pump's calls, told apart from the issuer's that may overlap them. */
const pumpCalls = new AsyncLocalStorage<Record<string, number>>();
diagnostics.subscribe('http.client.request.start', (message) => {
  const calls = pumpCalls.getStore();
  if (!calls) return;
  const key = requestKind((message as { request: ClientRequest }).request, undefined);
  calls[key] = (calls[key] ?? 0) + 1;
});

let stopping = false;
const pumping = (async () => {
  while (!stopping) {
    const startedAt = Date.now();
    const cpu = process.cpuUsage();
    const calls: Record<string, number> = {};
    const handled = await pumpCalls
      .run(calls, () => pumpDeliveries(stack, config.agents))
      .catch((err: unknown) => {
        send({ op: 'error', message: `deliver pump: ${String(err)}` });
        return 0;
      });
    if (handled > 0) {
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      send({ op: 'pumped', startedAt, endedAt: Date.now(), handled, cpuMs, calls });
    } else await sleep(PUMP_IDLE_MS);
  }
})();

process.on('message', (request: LambdaRequest) => {
  void (async () => {
    if (request.op === 'tick') {
      const result = await runTick(stack.clients.sqs, stack.queueUrl);
      send({
        op: 'ticked',
        failures: result.issuer.batchItemFailures.length,
        enqueued: result.scheduled.enqueued.length,
      });
    } else if (request.op === 'renew') await renew(request.id);
    else {
      stopping = true;
      await pumping;
      const cpu = process.cpuUsage();
      send({ op: 'stopped', cpuMs: (cpu.user + cpu.system) / 1000 });
      for (const client of Object.values(stack.clients)) client.destroy();
      process.disconnect();
    }
  })().catch((err: unknown) =>
    send({ op: 'failed', request: request.op, message: err instanceof Error ? err.message : String(err) }),
  );
});

send({ op: 'ready' });
