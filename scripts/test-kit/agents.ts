/**
 * The agent side of a stand-in stack, for tests and benches: the fleet table, the deliver
 * queue subscribed to the events topic as the stack subscribes it, the agents' CA (a KMS
 * key on moto, its certificate made by the real inventory-sync custom resource), the
 * environment of the identity and deliver functions, an HTTP front for the identity
 * function (what its function URL is), and a pump that runs the deliver function on what
 * its queue holds (what the SQS event source mapping does).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DeleteMessageCommand } from '@aws-sdk/client-sqs';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { resetAgentsRuntime } from '../../functions/agents-runtime.js';
import { handler as deliver } from '../../functions/deliver.js';
import { handler as identity } from '../../functions/identity.js';
import { handler as inventorySync } from '../../functions/inventory-sync.js';
import {
  CreateProfileCommand,
  CreateTrustAnchorCommand,
  RolesAnywhereClient,
} from '@aws-sdk/client-rolesanywhere';
import { createFleetTable } from '../../shared/dynamo/fleet-table.js';
import { type RolesAnywhereStandIn, standInClientConfig } from '../peers/roles-anywhere/index.js';
import type { Clock } from '../../shared/model/clock.js';
import { customResourceEvent, receiveAll, sqsEvent } from '../stand-in-stack/pipeline.js';
import { subscribeNewQueue, type StandInStack } from '../stand-in-stack/stack.js';

export interface AgentsStack {
  fleetTable: string;
  deliverQueueUrl: string;
  caKeyArn: string;
  caPem: string;
  trustAnchorArn: string;
  profileArn: string;
  roleArn: string;
  /** What the stack sets on the identity, deliver and fleet functions. */
  env: Record<string, string>;
}

export interface RolesAnywhereSetup {
  endpoint: string;
  /** The CA of the endpoint's TLS (the stand-in makes its own). */
  caCertPath?: string;
  trustAnchorArn: string;
  profileArn: string;
  roleArn: string;
}

export interface AgentsStackOptions {
  /**
   * Roles Anywhere as the test has it (the stand-in's: see standInTrust), set up once the
   * CA certificate exists; without it, made-up ARNs nothing answers for.
   */
  rolesAnywhere?: (caPem: string) => Promise<RolesAnywhereSetup>;
  /** How long agents' client certificates last. */
  identitySeconds?: number;
}

const DELIVERED_TYPES = ['certificate.issued', 'certificate.renewed'];

export async function createAgentsStack(
  stack: StandInStack,
  options: AgentsStackOptions = {},
): Promise<AgentsStack> {
  const fleetTable = `${stack.table}-fleet`;
  await createFleetTable(stack.clients.dynamodb, fleetTable);
  const deliverQueueUrl = await subscribeNewQueue(
    stack.clients,
    stack.topicArn,
    `${stack.table}-deliver`.slice(0, 80),
    {
      RawMessageDelivery: 'true',
      FilterPolicy: JSON.stringify({ type: DELIVERED_TYPES }),
    },
  );
  const kms = new KMSClient({
    endpoint: stack.env.AWS_ENDPOINT_URL,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const key = await kms.send(
    new CreateKeyCommand({
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      Description: `${stack.table} agents CA`,
    }),
  );
  kms.destroy();
  const caKeyArn = key.KeyMetadata!.Arn!;
  const made = await inventorySync(
    customResourceEvent('Create', [], {
      resourceType: 'Custom::CertkeeperAgentCa',
      properties: { KeyId: caKeyArn, CommonName: `certkeeper agents ${stack.table}` },
    }),
  );
  const caPem = String(made.Data!.CertificatePem);
  const ra = (options.rolesAnywhere ? await options.rolesAnywhere(caPem) : undefined) ?? {
    endpoint: undefined,
    caCertPath: undefined,
    trustAnchorArn:
      'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/00000000-0000-0000-0000-000000000000',
    profileArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/00000000-0000-0000-0000-000000000000',
    roleArn: 'arn:aws:iam::123456789012:role/certkeeper-agents',
  };
  const env = {
    CERTKEEPER_FLEET_TABLE: fleetTable,
    CERTKEEPER_DELIVER_QUEUE_URL: deliverQueueUrl,
    CERTKEEPER_AGENT_CA_KEY_ID: caKeyArn,
    CERTKEEPER_AGENT_CA_CERT: caPem,
    CERTKEEPER_AGENT_IDENTITY_SECONDS: String(options.identitySeconds ?? 7 * 86_400),
    CERTKEEPER_AGENT_TRUST_ANCHOR_ARN: ra.trustAnchorArn,
    CERTKEEPER_AGENT_PROFILE_ARN: ra.profileArn,
    CERTKEEPER_AGENT_ROLE_ARN: ra.roleArn,
    ...(ra.endpoint ? { CERTKEEPER_ROLES_ANYWHERE_ENDPOINT: ra.endpoint } : {}),
    ...(ra.caCertPath ? { CERTKEEPER_ROLES_ANYWHERE_CA: ra.caCertPath } : {}),
  };
  return { fleetTable, deliverQueueUrl, caKeyArn, caPem, ...ra, env };
}

/**
 * The stack's trust anchor and profile, on the Roles Anywhere stand-in: the agents' CA as a
 * CERTIFICATE_BUNDLE anchor, a profile of the agent role with 15-minute sessions (what
 * infra/issuer/agents.ts deploys).
 */
export function standInTrust(
  standIn: RolesAnywhereStandIn,
  roleName = 'certkeeper-agents',
): (caPem: string) => Promise<RolesAnywhereSetup> {
  return async (caPem) => {
    const control = new RolesAnywhereClient(standInClientConfig(standIn));
    try {
      const roleArn = `arn:aws:iam::${standIn.accountId}:role/${roleName}`;
      return {
        endpoint: standIn.endpoint,
        caCertPath: standIn.caCertPath,
        ...(await trustAgentsCa(control, caPem, roleArn, 900)),
      };
    } finally {
      control.destroy();
    }
  };
}

/** Sets the agent functions' environment (on top of the stack's) and forgets their cached runtime. */
export function pointAgentFunctionsAt(agents: AgentsStack, clock?: Clock): void {
  Object.assign(process.env, agents.env);
  resetAgentsRuntime(clock);
}

/** A function URL event for one request body, as Lambda hands it to the identity function. */
export function functionUrlEvent(body: string, method = 'POST'): LambdaFunctionURLEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'certkeeper-identity',
      domainName: 'certkeeper-identity.lambda-url.us-east-1.on.aws',
      domainPrefix: 'certkeeper-identity',
      http: { method, path: '/', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'certkeeper-agent' },
      requestId: crypto.randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body,
    isBase64Encoded: false,
  };
}

/** The identity function behind an HTTP server on 127.0.0.1: what its function URL is. */
export async function serveIdentity(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const answer = (await identity(
          functionUrlEvent(Buffer.concat(chunks).toString('utf8'), req.method),
        )) as Exclude<LambdaFunctionURLResult, string>;
        res.writeHead(answer.statusCode ?? 200, answer.headers as Record<string, string>);
        res.end(answer.body);
      })().catch((err: unknown) => {
        res.writeHead(500);
        res.end(JSON.stringify({ error: { message: String(err) } }));
      });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

/** The deliver event source's concurrency (infra/issuer/agents.ts), one message an invocation. */
const DELIVER_CONCURRENCY = 5;

/**
 * Runs the deliver function on everything its queue holds, as its event source does: one
 * message an invocation, up to five at once, a handled message deleted; again until the
 * queue is empty (a certificate split into shards puts them there). The messages handled.
 */
export async function pumpDeliveries(stack: StandInStack, agents: AgentsStack): Promise<number> {
  let handled = 0;
  for (;;) {
    const messages = await receiveAll(stack.clients.sqs, agents.deliverQueueUrl);
    if (messages.length === 0) return handled;
    let next = 0;
    const invocations = async (): Promise<void> => {
      while (next < messages.length) {
        const message = messages[next++]!;
        const response = await deliver(sqsEvent([message]));
        if (response.batchItemFailures.length === 0) {
          await stack.clients.sqs.send(
            new DeleteMessageCommand({
              QueueUrl: agents.deliverQueueUrl,
              ReceiptHandle: message.ReceiptHandle!,
            }),
          );
        }
        handled++;
      }
    };
    await Promise.all(Array.from({ length: DELIVER_CONCURRENCY }, invocations));
  }
}

/**
 * IAM Roles Anywhere (the stand-in, through `control`) set up as the stack sets up the real
 * service: the agents' CA as an enabled CERTIFICATE_BUNDLE trust anchor, and an enabled
 * profile for the one agent role. The role is named, not created: the stand-in's STS (moto)
 * assumes any role.
 */
export async function trustAgentsCa(
  control: RolesAnywhereClient,
  caPem: string,
  roleArn: string,
  sessionSeconds = 3600,
): Promise<{ trustAnchorArn: string; profileArn: string; roleArn: string }> {
  const anchor = await control.send(
    new CreateTrustAnchorCommand({
      name: 'certkeeper-agents',
      enabled: true,
      source: { sourceType: 'CERTIFICATE_BUNDLE', sourceData: { x509CertificateData: caPem } },
    }),
  );
  const profile = await control.send(
    new CreateProfileCommand({
      name: 'certkeeper-agents',
      enabled: true,
      roleArns: [roleArn],
      durationSeconds: sessionSeconds,
    }),
  );
  return {
    trustAnchorArn: anchor.trustAnchor!.trustAnchorArn!,
    profileArn: profile.profile!.profileArn!,
    roleArn,
  };
}
