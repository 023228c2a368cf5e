/**
 * Least privilege, proven on what the code really does: each principal (the Lambdas and
 * every agent: one role, told apart by the principal tag its certificate gives its session)
 * runs its real code against the peers (moto, DynamoDB Local, Pebble, the test
 * DNS server) while aws-recorder.ts records each AWS call it makes; every call is then
 * evaluated by @cloud-copilot/iam-simulate against that principal's policies in the
 * synthesized template (references resolved to this test's resources in a fake account),
 * resource policies included. All recorded calls must be allowed, and the forbidden
 * probes below must be denied. Prints: principal, calls recorded, allowed, probes denied.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { SNSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createAgent } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import { saveIdentity } from '../../agent/identity.js';
import { handler as identity } from '../../functions/identity.js';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { newDeliveryKey } from '../../shared/agents/envelope.js';
import { DynamoAgentInboxes } from '../../shared/agents/inbox-dynamodb.js';
import { parseEnrolmentToken } from '../../shared/agents/token.js';
import { DynamoAgentReports } from '../../shared/fleet/reports-dynamodb.js';
import { agentCsr } from '../../shared/identity/agent-csr.js';
import { systemClock } from '../../shared/model/clock.js';
import { issueToken } from '../../shared/usecases/manage-agents.js';
import {
  type AgentsStack,
  createAgentsStack,
  functionUrlEvent,
  pointAgentFunctionsAt,
  pumpDeliveries,
} from '../../scripts/test-kit/agents.js';
import { handler as fleet } from '../../functions/fleet.js';
import { handler as inventorySync } from '../../functions/inventory-sync.js';
import { handler as issuer } from '../../functions/issuer.js';
import { resetNotifierRuntime } from '../../functions/notifier-runtime.js';
import { handler as notifier } from '../../functions/notifier.js';
import { handler as scheduler } from '../../functions/scheduler.js';
import { CertkeeperStack } from '../../infra/stack.js';
import { type DeploymentConfigInput, parseDeploymentConfig } from '../../shared/config/deployment.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { ObjectPendingKeys } from '../../shared/store/pending-keys.js';
import {
  customResourceEvent,
  receiveAll,
  scheduledEvent,
  sqsEvent,
} from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { actingAs, recordAwsCalls } from '../support/aws-recorder.js';
import {
  ACCOUNT,
  type CfnTemplate,
  decide,
  type Encryption,
  type IamRequest,
  iamRequests,
  type PolicySet,
  policiesOf,
  type PrincipalSource,
  REGION,
  TemplateResolver,
} from '../support/iam.js';
import { pebbleGet, uniqueName } from '../../scripts/test-kit/peers.js';
import { inlineCode } from '../support/synth.js';
import { serveHttp01OnPebblePort, useStandInStack } from '../../scripts/test-kit/stack.js';

/** Adding a principal is one line: its name and where its policies are in the template. */
const PRINCIPALS: Record<string, PrincipalSource> = {
  scheduler: { role: 'IssuerSchedulerRole' },
  issuer: { role: 'IssuerIssuerRole' },
  notifier: { role: 'IssuerNotifierRole' },
  'inventory-sync': { role: 'IssuerInventorySyncRole' },
  identity: { role: 'IssuerIdentityRole' },
  deliver: { role: 'IssuerDeliverRole' },
  // Every agent is the one agent role; what tells them apart is their session's principal tags.
  'agent:web-1': { role: 'IssuerAgentRole' },
  'agent:proxy': { role: 'IssuerAgentRole' },
  fleet: { role: 'IssuerFleetRole' },
};

/** What Roles Anywhere puts in an agent's session: its certificate's CN, as a principal tag. */
const PRINCIPAL_TAGS: Record<string, Record<string, string>> = {
  'agent:web-1': { 'aws:PrincipalTag/x509Subject/CN': 'web-1' },
  'agent:proxy': { 'aws:PrincipalTag/x509Subject/CN': 'proxy' },
};
const tagged = (principal: string, request: IamRequest): IamRequest => ({
  ...request,
  context: { ...request.context, ...PRINCIPAL_TAGS[principal] },
});

const ZONE = `${uniqueName('iam')}.test`;
/** moto's zone ids do not look like Route53's, which the config insists on: this stands in. */
const ZONE_ID = 'Z0CERTKEEPERIAMTEST';
const recorder = recordAwsCalls();
let stack: StandInStack;
let agents: AgentsStack;
let policies: PolicySet;
let bucketArn: string;
let zoneArn: string;
const results: Record<string, { recorded: number; allowed: number; denied: string[]; distinct: string[] }> =
  {};

/** Calls that must be denied, per principal: [why, request]. */
function forbidden(): Record<
  string,
  [string, Omit<IamRequest, 'call' | 'context'> & { context?: IamRequest['context'] }][]
> {
  const object = (key: string) => `${bucketArn}/${key}`;
  const fleetTableArn = () => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${agents.fleetTable}`;
  const reportWrite = (agent: string) => ({
    action: 'dynamodb:PutItem',
    resource: fleetTableArn(),
    context: { 'dynamodb:LeadingKeys': [`report#${agent}`] },
  });
  const inboxRead = (agent: string) => ({
    action: 'dynamodb:GetItem',
    resource: fleetTableArn(),
    context: { 'dynamodb:LeadingKeys': [`inbox#${agent}`] },
  });
  const registryRead = (agent: string) => ({
    action: 'dynamodb:GetItem',
    resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${stack.table}`,
    context: { 'dynamodb:LeadingKeys': [`agent#${agent}`] },
  });
  const caKeyArn = agents.caKeyArn;
  const change = (name: string, type: string) => ({
    action: 'route53:ChangeResourceRecordSets',
    resource: zoneArn,
    context: {
      'route53:ChangeResourceRecordSetsNormalizedRecordNames': [name],
      'route53:ChangeResourceRecordSetsRecordTypes': [type],
      'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
    },
  });
  const allBucket = (why: string): [string, { action: string; resource: string }][] => [
    [
      `${why}: read an object`,
      { action: 's3:GetObject', resource: object('certificates/web-1/current.json') },
    ],
    [
      `${why}: write an object`,
      { action: 's3:PutObject', resource: object('certificates/web-1/current.json') },
    ],
    [`${why}: list the bucket`, { action: 's3:ListBucket', resource: bucketArn }],
  ];
  return {
    issuer: [
      ['an A record for a challenge name', change(`_acme-challenge.${ZONE}`, 'A')],
      ['an A record for the zone apex', change(ZONE, 'A')],
      ['a TXT record that is not a challenge', change(`www.${ZONE}`, 'TXT')],
      [
        'an object outside its prefixes',
        { action: 's3:GetObject', resource: object('agents/web-1/report.json') },
      ],
      [
        'another bucket',
        { action: 's3:GetObject', resource: 'arn:aws:s3:::someone-elses-bucket/certificates/x' },
      ],
      [
        'deleting a private key',
        { action: 's3:DeleteObject', resource: object('certificates/web-1/01/privkey.pem') },
      ],
    ],
    'agent:web-1': [
      [
        "the proxy's delivery (its certificate, sealed to it)",
        { action: 's3:GetObject', resource: object('agents/proxy/deliveries/site/01.json') },
      ],
      ['any private key', { action: 's3:GetObject', resource: object('certificates/site/01/privkey.pem') }],
      ['its own manifest', { action: 's3:GetObject', resource: object('certificates/web-1/current.json') }],
      ['an ACME account key', { action: 's3:GetObject', resource: object(`accounts/x/y.json`) }],
      ["writing the proxy's report", reportWrite('proxy')],
      ["the proxy's inbox", inboxRead('proxy')],
      ['the registry (its own record included)', registryRead('web-1')],
      [
        'writing its own inbox',
        {
          action: 'dynamodb:PutItem',
          resource: fleetTableArn(),
          context: { 'dynamodb:LeadingKeys': ['inbox#web-1'] },
        },
      ],
      [
        'deleting anything',
        { action: 's3:DeleteObject', resource: object('agents/web-1/deliveries/web-1/01.json') },
      ],
      ['signing with the CA key', { action: 'kms:Sign', resource: caKeyArn }],
    ],
    identity: [
      ['a private key', { action: 's3:GetObject', resource: object('certificates/web-1/01/privkey.pem') }],
      [
        'an inbox',
        {
          action: 'dynamodb:PutItem',
          resource: fleetTableArn(),
          context: { 'dynamodb:LeadingKeys': ['inbox#web-1'] },
        },
      ],
      [
        'an inventory item deleted',
        {
          action: 'dynamodb:DeleteItem',
          resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${stack.table}`,
        },
      ],
    ],
    deliver: [
      ['an ACME account key', { action: 's3:GetObject', resource: object('accounts/x/y.json') }],
      [
        'writing a certificate',
        { action: 's3:PutObject', resource: object('certificates/web-1/current.json') },
      ],
      ['writing an agent report', reportWrite('web-1')],
      ['deleting an agent report', { ...reportWrite('web-1'), action: 'dynamodb:DeleteItem' }],
      ['signing with the CA key', { action: 'kms:Sign', resource: caKeyArn }],
      [
        'writing the registry',
        {
          action: 'dynamodb:UpdateItem',
          resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${stack.table}`,
        },
      ],
    ],
    fleet: [
      ['a private key', { action: 's3:GetObject', resource: object('certificates/web-1/01/privkey.pem') }],
      ['an ACME account key', { action: 's3:GetObject', resource: object('accounts/x/y.json') }],
      ['writing an agent report', { action: 's3:PutObject', resource: object('agents/web-1/report.json') }],
      ['writing a manifest', { action: 's3:PutObject', resource: object('certificates/web-1/current.json') }],
      ['deleting anything', { action: 's3:DeleteObject', resource: object('fleet/status.json') }],
      ['a challenge TXT record', change(`_acme-challenge.${ZONE}`, 'TXT')],
      ["deleting an agent's report", { ...reportWrite('web-1'), action: 'dynamodb:DeleteItem' }],
    ],
    'agent:proxy': [
      [
        "web-1's delivery",
        { action: 's3:GetObject', resource: object('agents/web-1/deliveries/web-1/01.json') },
      ],
      ["writing web-1's report", reportWrite('web-1')],
      ["web-1's inbox", inboxRead('web-1')],
      [
        "web-1's poll",
        {
          action: 'dynamodb:GetItem',
          resource: fleetTableArn(),
          context: { 'dynamodb:LeadingKeys': ['poll#web-1'] },
        },
      ],
    ],
    notifier: allBucket('the notifier'),
    scheduler: [
      ...allBucket('the scheduler'),
      ['a DNS change', change(`_acme-challenge.${ZONE}`, 'TXT')],
      ['publishing an event', { action: 'sns:Publish', resource: `arn:aws:sns:${REGION}:${ACCOUNT}:events` }],
    ],
    'inventory-sync': [
      ...allBucket('inventory sync'),
      [
        'deleting a certificate file',
        { action: 's3:DeleteObject', resource: object('certificates/web-1/0a1b/privkey.pem') },
      ],
      [
        'reading a kept order key',
        { action: 's3:GetObject', resource: object('certificates/web-1/pending/order-key.json') },
      ],
      [
        'deleting an inventory item',
        {
          action: 'dynamodb:DeleteItem',
          resource: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${stack.table}`,
        },
      ],
    ],
  };
}

function synthFor(config: DeploymentConfigInput): CfnTemplate {
  const context = (JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Record<string, unknown> })
    .context;
  const app = new App({ context });
  const cdkStack = new CertkeeperStack(app, 'Test', {
    config: parseDeploymentConfig(config),
    lambdaCode: inlineCode(),
    env: { account: ACCOUNT, region: REGION },
  });
  return Template.fromStack(cdkStack).toJSON() as CfnTemplate;
}

const lastSegment = (s: string) => s.split(/[:/]/).pop()!;

/** The Inventory custom resource's properties, as the deploy hands them to inventory-sync. */
function inventoryPropertiesOf(template: CfnTemplate): { AgentsGzip?: string } {
  const [, resource] = Object.entries(template.Resources).find(
    ([, r]) => r.Type === 'Custom::CertkeeperInventory',
  )!;
  return resource.Properties as { AgentsGzip?: string };
}

beforeAll(async () => {
  stack = await useStandInStack('iam', [ZONE]);
  const notifications = (await stack.clients.sns.send(new CreateTopicCommand({ Name: uniqueName('notes') })))
    .TopicArn!;
  const certificates = [
    { name: 'web-1', identifiers: ['127.0.0.1'] },
    { name: 'site', identifiers: [ZONE, `*.${ZONE}`] },
  ];
  const config: DeploymentConfigInput = {
    hostedZones: [{ id: ZONE_ID }],
    agents: [
      { name: 'web-1', certificates: ['web-1'] },
      { name: 'proxy', certificates: ['site'] },
    ],
    certificates,
  };
  const template = synthFor(config);
  agents = await createAgentsStack(stack);
  pointAgentFunctionsAt(agents);
  const resolver = new TemplateResolver(template, {
    IssuerBucket: stack.bucket,
    IssuerTable: stack.table,
    IssuerKey: stack.kmsKeyId,
    IssuerIssuerQueue: lastSegment(stack.queueUrl),
    IssuerEvents: lastSegment(stack.topicArn),
    IssuerNotifications: lastSegment(notifications),
    IssuerFleetTable: agents.fleetTable,
    IssuerDeliverQueue: lastSegment(agents.deliverQueueUrl),
    IssuerAgentCaKey: lastSegment(agents.caKeyArn),
  });
  policies = policiesOf(template, resolver, PRINCIPALS);
  bucketArn = `arn:aws:s3:::${stack.bucket}`;
  zoneArn = `arn:aws:route53:::hostedzone/${ZONE_ID}`;

  // ---- Each principal does its job, recorded --------------------------------------------
  const inventoryProperties = inventoryPropertiesOf(template);
  const retiring = { name: 'old', identifiers: [`old.${ZONE}`] };
  await actingAs('inventory-sync', () =>
    inventorySync(
      customResourceEvent('Create', [...certificates, retiring], {
        properties: { AgentsGzip: inventoryProperties.AgentsGzip! },
      }),
    ),
  );
  // A deploy that drops `old`, whose order was cut off after finalize: its kept key goes.
  await new ObjectPendingKeys(new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket })).put('old', {
    orderUrl: 'https://ca.example/order/1',
    keyPem: 'stand-in, not a key',
  });
  await actingAs('inventory-sync', () =>
    inventorySync(
      customResourceEvent('Update', certificates, {
        properties: { AgentsGzip: inventoryProperties.AgentsGzip! },
      }),
    ),
  );
  await actingAs('inventory-sync', () =>
    inventorySync(
      customResourceEvent('Create', [], {
        resourceType: 'Custom::CertkeeperAgentCa',
        properties: { KeyId: agents.caKeyArn, CommonName: 'certkeeper agents iam' },
      }),
    ),
  );
  await actingAs('scheduler', () => scheduler(scheduledEvent()));
  await actingAs('scheduler', () => scheduler({ action: 'stats' }));
  const messages = await receiveAll(stack.clients.sqs, stack.queueUrl);
  expect(messages.map((m) => (JSON.parse(m.Body!) as { certificate: string }).certificate).sort()).toEqual([
    'site',
    'web-1',
  ]);
  const responder = await serveHttp01OnPebblePort(
    new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }),
  );
  try {
    const response = await actingAs('issuer', () => issuer(sqsEvent(messages)));
    expect(response.batchItemFailures).toEqual([]);
    // A renewal as well: it replaces a serial (whose files carry their retention tag).
    const renewal = {
      MessageId: 'renew',
      Body: JSON.stringify(forcedRenewal('web-1', new Date())),
    };
    expect((await actingAs('issuer', () => issuer(sqsEvent([renewal])))).batchItemFailures).toEqual([]);
  } finally {
    await responder.close();
  }

  Object.assign(process.env, {
    CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: notifications,
    CERTKEEPER_NOTIFY_TYPES: 'certificate.renewal_failed',
  });
  resetNotifierRuntime();
  await actingAs('notifier', () => notifier(alertEvent(stack.topicArn)));
  delete process.env.CERTKEEPER_NOTIFY_TYPES;

  // ---- The agents: join (identity), deliveries (deliver), checks and reports (each agent) ----
  const registry = new DynamoAgentRegistry({ client: stack.clients.dynamodb, tableName: stack.table });
  const fleetTable = { client: stack.clients.dynamodb, tableName: agents.fleetTable };
  for (const [agent, certificate] of [
    ['web-1', 'web-1'],
    ['proxy', 'site'],
  ] as const) {
    const { token } = await issueToken(
      { registry, clock: systemClock },
      { url: 'https://identity.example/', region: REGION },
      { name: agent },
    );
    const dir = mkdtempSync(join(tmpdir(), `certkeeper-iam-${agent}-`));
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const delivery = newDeliveryKey();
    const joined = await actingAs('identity', () =>
      identity(
        functionUrlEvent(
          JSON.stringify({
            action: 'join',
            agent,
            token: parseEnrolmentToken(token).secret,
            csr: agentCsr(agent, key),
            deliveryKey: delivery.publicKeyDer,
          }),
        ),
      ),
    );
    const answer = JSON.parse((joined as { body: string }).body) as {
      certificate: string;
      caCertificate: string;
    };
    expect(answer.certificate).toContain('BEGIN CERTIFICATE');
    await saveIdentity(join(dir, 'identity'), {
      key,
      certificatePem: answer.certificate,
      caPem: answer.caCertificate,
      deliveryKey: delivery.privateKey,
    });
    await actingAs('deliver', () => pumpDeliveries(stack, agents));
    // Pebble's root, so the agent goes all the way: open, verify, install, report.
    writeFileSync(join(dir, 'root.pem'), (await pebbleGet('/roots/0')).body);
    const config = parseAgentConfig(
      {
        name: agent,
        bucket: stack.bucket,
        identity: {
          directory: 'identity',
          enrolUrl: 'https://identity.example/',
          region: REGION,
          fleetTable: agents.fleetTable,
          trustAnchorArn: agents.trustAnchorArn,
          profileArn: agents.profileArn,
          roleArn: agents.roleArn,
        },
        pollIntervalSeconds: 3600,
        eventPollSeconds: 1,
        stateFile: 'state.json',
        trustedCaFile: 'root.pem',
        certificates: { [certificate]: { fullchain: 'fullchain.pem', key: 'privkey.pem' } },
      },
      'iam test agent config',
      dir,
    );
    const principal = `agent:${agent}`;
    const stop = new AbortController();
    const running = actingAs(principal, () =>
      createAgent(config, {
        registry: {
          inboxes: new DynamoAgentInboxes(fleetTable),
          objects: new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }),
          reports: new DynamoAgentReports(fleetTable),
        },
      }).run({ signal: stop.signal }),
    );
    const deadline = Date.now() + 60_000;
    const done = () =>
      recorder.calls.some((c) => c.principal === principal && c.operation === 'GetObject') &&
      recorder.calls.some((c) => c.principal === principal && c.operation === 'PutItem');
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    stop.abort();
    await running;
  }

  // The fleet view reads the agents' reports just written, and keeps its own status object.
  await actingAs('fleet', () => fleet());

  // ---- Every recorded call, evaluated ---------------------------------------------------
  const encryption = encryptionOf(template, resolver);
  for (const principal of Object.keys(PRINCIPALS)) {
    const calls = recorder.calls.filter((c) => c.principal === principal);
    const requests = calls
      .flatMap((c) => iamRequests(c, encryption).map((r) => tagged(principal, r)))
      .map((r) => ({ ...r, resource: r.resource.replace(stack.zoneIds[ZONE]!, ZONE_ID) }));
    const denied: string[] = [];
    for (const request of requests) {
      const decision = await decide(policies, principal, request);
      if (decision !== 'Allowed')
        denied.push(`${request.action} ${request.resource} (${request.call}): ${decision}`);
    }
    // Object keys differ by serial and token: show the shape, not every instance.
    const shape = (r: IamRequest) =>
      `${r.action} ${r.resource.replace(/\/[0-9A-F]{16,}\//, '/<serial>/').replace(/http-01\/[\w-]+$/, 'http-01/<token>')}`;
    const distinct = [...new Set(requests.map(shape))].sort();
    results[principal] = {
      recorded: calls.length,
      allowed: requests.length - denied.length,
      denied,
      distinct,
    };
  }
}, 300_000);

afterAll(() => stack?.clients.s3.destroy());

function alertEvent(topicArn: string): SNSEvent {
  const event = {
    type: 'certificate.renewal_failed',
    certificate: 'web-1',
    identifiers: ['127.0.0.1'],
    status: 'failing',
    attempt: 12,
    error: { type: 'urn:ietf:params:acme:error:connection', detail: 'Connection refused' },
    at: new Date().toISOString(),
  };
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${topicArn}:subscription`,
        Sns: {
          Type: 'Notification',
          MessageId: uniqueName('alert'),
          TopicArn: topicArn,
          Subject: 'certificate.renewal_failed',
          Message: JSON.stringify(event),
          Timestamp: new Date().toISOString(),
          SignatureVersion: '1',
          Signature: '',
          SigningCertUrl: '',
          UnsubscribeUrl: '',
          MessageAttributes: {
            type: { Type: 'String', Value: event.type },
            certificate: { Type: 'String', Value: event.certificate },
          },
        },
      },
    ],
  };
}

/** What the template encrypts with its key: SSE-KMS buckets, queues and topics. */
function encryptionOf(template: CfnTemplate, resolver: TemplateResolver): Encryption {
  // The stack's symmetric key (the agents' CA key encrypts nothing).
  const [keyId] = Object.entries(template.Resources).find(
    ([, r]) => r.Type === 'AWS::KMS::Key' && r.Properties?.KeySpec === undefined,
  )!;
  const encryption: Encryption = { keyArn: resolver.arn(keyId), buckets: [], queues: [], topics: [] };
  for (const [id, r] of Object.entries(template.Resources)) {
    const p = JSON.stringify(r.Properties ?? {});
    if (!p.includes(keyId)) continue;
    if (r.Type === 'AWS::S3::Bucket' && p.includes('aws:kms')) encryption.buckets.push(resolver.ref(id));
    if (r.Type === 'AWS::SQS::Queue') encryption.queues.push(resolver.arn(id));
    if (r.Type === 'AWS::SNS::Topic') encryption.topics.push(resolver.arn(id));
  }
  return encryption;
}

describe('least privilege: every AWS call each principal made is allowed by the template', () => {
  it('each principal made calls (the recording is live)', () => {
    for (const principal of Object.keys(PRINCIPALS))
      expect(results[principal]!.recorded, principal).toBeGreaterThan(0);
  });

  it.each(Object.keys(PRINCIPALS))('%s: all recorded calls allowed', (principal) => {
    expect(results[principal]!.denied).toEqual([]);
  });

  it('the forbidden probes are denied, and the table is printed', async () => {
    const probes = forbidden();
    const rows: string[][] = [];
    const allowed: string[] = [];
    for (const principal of Object.keys(PRINCIPALS)) {
      const list = probes[principal] ?? [];
      let denied = 0;
      for (const [why, probe] of list) {
        const decision = await decide(
          policies,
          principal,
          tagged(principal, {
            ...probe,
            context: { 'aws:SecureTransport': 'true', ...probe.context },
            call: why,
          }),
        );
        if (decision === 'Allowed') allowed.push(`${principal}: ${why}`);
        else denied++;
      }
      const r = results[principal]!;
      rows.push([
        principal,
        String(r.recorded),
        `${r.allowed}/${r.allowed + r.denied.length}`,
        `${denied}/${list.length}`,
      ]);
    }
    const header = ['principal', 'calls recorded', 'IAM requests allowed', 'forbidden probes denied'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    console.log(['', line(header), ...rows.map(line), ''].join('\n'));
    for (const [principal, r] of Object.entries(results))
      console.log(`${principal}:\n  ${r.distinct.join('\n  ')}`);
    expect(allowed).toEqual([]);
    expect(Object.values(probes).flat().length).toBeGreaterThan(15);
  });

  it('the evaluator does allow what a policy grants (a probe that must pass)', async () => {
    expect(
      await decide(policies, 'issuer', {
        action: 'route53:ChangeResourceRecordSets',
        resource: zoneArn,
        context: {
          'aws:SecureTransport': 'true',
          'route53:ChangeResourceRecordSetsNormalizedRecordNames': [`_acme-challenge.${ZONE}`],
          'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
          'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
        },
        call: 'a challenge TXT',
      }),
    ).toBe('Allowed');
  });
});
