/**
 * Agents as data, end to end, on the peers: the real scheduler and issuer issue from Pebble
 * into a stand-in stack; the identity function answers behind an HTTP server (what its
 * function URL is); the deliver function runs on its queue (subscribed to the events topic
 * as the stack subscribes it); IAM Roles Anywhere is the stand-in test peer, handing out
 * moto STS credentials with the principal tags; and every AWS request an agent makes goes
 * through the IAM gate, which refuses what the synthesized agent role's policies do not
 * allow for that session. No agent has an AWS key: only the identity `agent join` made.
 *
 * The servers' side is the certkeeper program: the repository's (tsx) here, and, in the
 * `installed` project (CERTKEEPER_AGENT_BIN=/usr/bin/certkeeper), the installed .deb's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as identityHandler } from '../../functions/identity.js';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { DynamoAgentInboxes } from '../../shared/agents/inbox-dynamodb.js';
import { MemoryPublisher } from '../../shared/events/publisher.js';
import { monitorFleet } from '../../shared/fleet/monitor.js';
import { DynamoAgentReports } from '../../shared/fleet/reports-dynamodb.js';
import { ObjectAgentReports } from '../../shared/fleet/reports-objects.js';
import { createSession } from '../../shared/identity/roles-anywhere.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { DAY, SECOND, systemClock } from '../../shared/model/clock.js';
import { silentLog } from '../../shared/model/log.js';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { manifestKey } from '../../shared/store/layout.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import type { Manifest } from '../../shared/store/store.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { handler as issuer } from '../../functions/issuer.js';
import {
  type RolesAnywhereStandIn,
  startRolesAnywhereStandIn,
} from '../../scripts/peers/roles-anywhere/index.js';
import { runTick, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import {
  type AgentsStack,
  createAgentsStack,
  pointAgentFunctionsAt,
  pumpDeliveries,
  serveIdentity,
  standInTrust,
} from '../../scripts/test-kit/agents.js';
import { type Run, certkeeper, json } from '../../scripts/test-kit/operator.js';
import { pebbleRoots, peers, uniqueName } from '../../scripts/test-kit/peers.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { type CfnTemplate, type Encryption, policiesOf, TemplateResolver } from '../support/iam.js';
import { sameSerial } from '../../shared/fleet/probe.js';
import { type IamGate, startIamGate } from '../support/iam-gate.js';
import { scratch } from '../support/scratch.js';
import { exampleConfigInput, synth } from '../support/synth.js';

/** The certkeeper program the servers run: the installed one when the test says so. */
const AGENT_BIN = process.env.CERTKEEPER_AGENT_BIN;
const ZONE = `${uniqueName('fleet')}.test`;
/** Short identities, so the test sees the agents renew their own: half-way, at 20 s. */
const IDENTITY_SECONDS = 40;

let stack: StandInStack;
let agents: AgentsStack;
let standIn: RolesAnywhereStandIn;
let gate: IamGate;
let identityUrl: string;
let inventory: DynamoInventory;
let registry: DynamoAgentRegistry;
let roots: string;
let pumping = true;
let pump: Promise<void>;
const { defer, tempDir, cleanUp } = scratch('registry');

beforeAll(async () => {
  stack = await useStandInStack('registry', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  registry = new DynamoAgentRegistry({ client: stack.clients.dynamodb, tableName: stack.table });
  standIn = await startRolesAnywhereStandIn({ stsEndpoint: peers().motoEndpoint });
  defer(() => standIn.close());
  agents = await createAgentsStack(stack, {
    rolesAnywhere: standInTrust(standIn),
    identitySeconds: IDENTITY_SECONDS,
  });
  pointAgentFunctionsAt(agents);
  const served = await serveIdentity();
  identityUrl = served.url;
  defer(() => served.close());
  // The agent role's policies as the stack deploys them, resolved to this test's resources.
  const template = synth(exampleConfigInput()).template.toJSON() as CfnTemplate;
  const resolver = new TemplateResolver(template, {
    IssuerBucket: stack.bucket,
    IssuerFleetTable: agents.fleetTable,
    IssuerTable: stack.table,
    IssuerKey: stack.kmsKeyId,
  });
  const encryption: Encryption = {
    keyArn: resolver.arn(keyIdOf(template)),
    buckets: [stack.bucket],
    queues: [],
    topics: [],
  };
  gate = await startIamGate({
    motoEndpoint: peers().motoEndpoint,
    dynamodbEndpoint: peers().dynamodbEndpoint,
    sessions: () => standIn.sessions(),
    policies: policiesOf(template, resolver, { agents: { role: 'IssuerAgentRole' } }),
    principal: 'agents',
    encryption,
  });
  defer(() => gate.close());
  roots = join(tempDir('roots'), 'roots.pem');
  writeFileSync(roots, (await pebbleRoots()).root);
  // The deliver function's event source: its queue, drained as it fills.
  pump = (async () => {
    while (pumping) {
      await pumpDeliveries(stack, agents).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  defer(async () => {
    pumping = false;
    await pump;
  });
}, 120_000);

afterAll(async () => {
  await cleanUp();
  stack?.clients.s3.destroy();
});

function keyIdOf(template: CfnTemplate): string {
  return Object.entries(template.Resources).find(
    ([, r]) => r.Type === 'AWS::KMS::Key' && !r.Properties?.KeySpec,
  )![0];
}

// --- the operator's side ---------------------------------------------------------------------

/** The operator's certkeeper, pointed at the stand-in stack with their (the test's) credentials. */
const operator = (args: string[]): Promise<Run> =>
  certkeeper(args, {
    ...stack.env,
    CERTKEEPER_FLEET_TABLE: agents.fleetTable,
    CERTKEEPER_ENROL_URL: identityUrl,
  });

async function addAgent(name: string, selector: string[]): Promise<string> {
  const run = await operator(['agent', 'add', name, ...selector, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return json<{ token: string }>(run).token;
}

/** Declares and issues certificates through one scheduler tick (DNS-01 in the test zone). */
async function issue(...certificates: { name: string; labels?: Record<string, string> }[]): Promise<void> {
  for (const c of certificates) {
    await declareCertificate(inventory, {
      name: c.name,
      identifiers: [`${c.name}.${ZONE}`],
      ...(c.labels ? { labels: c.labels } : {}),
    });
  }
  const tick = await runTick(stack.clients.sqs, stack.queueUrl);
  expect(tick.issuer.batchItemFailures).toEqual([]);
  for (const c of certificates) expect((await inventory.get(c.name))?.state.status).toBe('valid');
}

async function manifestOf(name: string): Promise<Manifest> {
  const out = await stack.clients.s3.send(
    new GetObjectCommand({ Bucket: stack.bucket, Key: manifestKey(name) }),
  );
  return JSON.parse(await out.Body!.transformToString()) as Manifest;
}

// --- the servers' side -------------------------------------------------------------------------

interface Server {
  name: string;
  dir: string;
  config: string;
  logs: string[];
  agent?: ChildProcess;
}

/** What a server's agent gets from its environment: where AWS is, and no AWS key at all. */
const serverEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  AWS_ENDPOINT_URL: gate.endpoint,
  AWS_REGION: 'us-east-1',
  CERTKEEPER_S3_FORCE_PATH_STYLE: 'true',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  NO_COLOR: '1',
});

function program(args: string[]): [string, string[]] {
  return AGENT_BIN ? [AGENT_BIN, args] : [process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args]];
}

function onServer(args: string[], logs?: string[]): ChildProcess {
  const [bin, argv] = program(args);
  const child = spawn(bin, argv, { env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => logs?.push(...d.toString().split('\n').filter(Boolean)));
  return child;
}

async function runOnServer(args: string[]): Promise<Run> {
  const child = onServer(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((done) => child.once('close', done));
  return { code, stdout, stderr };
}

/**
 * A server that ran certkeeper before: a config it had in direct mode (the per-agent queue of
 * the old stack, a bucket, its own install targets and reload command), which `agent join`
 * amends; or, for a new server, only where this test wants its files.
 */
function newServer(name: string, previous: Record<string, unknown> = {}): Server {
  const dir = tempDir(name);
  const config = join(dir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      stateFile: join(dir, 'state.json'),
      certificatesDirectory: join(dir, 'etc'),
      trustedCaFile: roots,
      eventPollSeconds: 1,
      pollIntervalSeconds: 3600,
      reportIntervalSeconds: 2,
      ...previous,
    }),
  );
  return { name, dir, config, logs: [] };
}

async function joinRegistry(server: Server, token: string): Promise<Run> {
  return runOnServer([
    'agent',
    'join',
    token,
    '--config',
    server.config,
    '--identity-dir',
    join(server.dir, 'identity'),
    '--endpoint-ca',
    standIn.caCertPath,
    '--no-start',
    '--json',
  ]);
}

function startAgent(server: Server): void {
  server.agent = onServer(['agent', '--config', server.config], server.logs);
  const child = server.agent;
  defer(() => stopAgent({ ...server, agent: child }));
}

async function stopAgent(server: Server): Promise<void> {
  const child = server.agent;
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((done) => child.once('close', done));
}

const installed = (server: Server, certificate: string, file = 'fullchain.pem'): string | undefined => {
  const path = join(server.dir, 'etc', certificate, file);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
};

/** The serial of the certificate at `path` (a fullchain's leaf), undefined when there is none. */
function serialAt(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return new X509Certificate(readFileSync(path)).serialNumber;
  } catch {
    return undefined;
  }
}

const hasSerial = (path: string, serial: string): boolean => {
  const at = serialAt(path);
  return at !== undefined && sameSerial(at, serial);
};

async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  logs?: string[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${logs ? `\n${logs.slice(-15).join('\n')}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The fleet tick as the fleet function runs it, with lag and silence measured in seconds. */
/** A Roles Anywhere session from the stand-in with the identity `server` holds on disk. */
function sessionOf(server: Server, durationSeconds?: number): ReturnType<typeof createSession> {
  const identityDir = join(server.dir, 'identity');
  return createSession(
    {
      certificatePem: readFileSync(join(identityDir, 'certificate.pem'), 'utf8'),
      privateKey: readFileSync(join(identityDir, 'key.pem'), 'utf8'),
    },
    {
      region: 'us-east-1',
      endpoint: standIn.endpoint,
      trustAnchorArn: agents.trustAnchorArn,
      profileArn: agents.profileArn,
      roleArn: agents.roleArn,
      ...(durationSeconds ? { durationSeconds } : {}),
      caPem: standIn.caCertPem,
    },
    { clock: systemClock },
  );
}

function tick() {
  const fleetTable = { client: stack.clients.dynamodb, tableName: agents.fleetTable };
  const objects = new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket });
  const events = new MemoryPublisher();
  return monitorFleet({
    inventory,
    objects,
    reports: [new DynamoAgentReports(fleetTable), new ObjectAgentReports(objects)],
    registry,
    inboxes: new DynamoAgentInboxes(fleetTable),
    requestDelivery: async () => undefined,
    events,
    clock: systemClock,
    log: silentLog,
    rules: { lagMs: SECOND, silentIntervals: 3, expiringMs: DAY },
  }).then((result) => ({ ...result, events: events.events }));
}

// --- the tests ---------------------------------------------------------------------------------

const web = newServerLater('web-a');
const edge1 = newServerLater('edge-1');
const edge2 = newServerLater('edge-2');

/** Servers are made once beforeAll has run (their configs name its files). */
function newServerLater(name: string): () => Server {
  let server: Server | undefined;
  return () => (server ??= newServerFor(name));
}
function newServerFor(name: string): Server {
  if (name !== 'web-a') return newServer(name);
  // web-a ran certkeeper before the registry: direct mode, its queue, its own target for site-a.
  return newServer(name, {
    name,
    bucket: 'certkeeper-old-bucket',
    queueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/Certkeeper-IssuerAgentWebAQueue',
    certificates: { 'site-a': { fullchain: 'site-a/fullchain.pem', key: 'site-a/privkey.pem' } },
  });
}

describe('agents as data, from one command per server', () => {
  it('two servers join with one command each and install their own certificate, with credentials from their identity', async () => {
    await issue({ name: 'site-a' }, { name: 'edge', labels: { role: 'edge' } });
    const webToken = await addAgent('web-a', ['--certificates', 'site-a']);
    const edgeToken = await addAgent('edge-1', ['--labels', 'role=edge']);

    const joined = await joinRegistry(web(), webToken);
    expect(joined.code, joined.stderr).toBe(0);
    expect(json(joined)).toMatchObject({ agent: 'web-a', amended: true });
    // The old config, amended: its target kept, the queue gone, the stack's settings in.
    const config = JSON.parse(readFileSync(web().config, 'utf8')) as Record<string, unknown>;
    expect(config).not.toHaveProperty('queueUrl');
    expect(config).toMatchObject({
      name: 'web-a',
      bucket: stack.bucket,
      certificates: { 'site-a': { fullchain: 'site-a/fullchain.pem' } },
    });
    expect(config.identity).toMatchObject({
      fleetTable: agents.fleetTable,
      trustAnchorArn: agents.trustAnchorArn,
    });
    // The key was made on the server, mode 0600; only a CSR left it.
    const keyFile = join(web().dir, 'identity', 'key.pem');
    expect(createPrivateKey(readFileSync(keyFile)).asymmetricKeyType).toBe('ec');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(config)).not.toMatch(/PRIVATE KEY|aws_secret|AKIA/i);

    expect((await joinRegistry(edge1(), edgeToken)).code).toBe(0);
    startAgent(web());
    startAgent(edge1());
    const siteA = await manifestOf('site-a');
    const edge = await manifestOf('edge');
    // web-a where its old config said; edge-1 under its certificates directory.
    await waitFor(
      'web-a to install site-a',
      () => hasSerial(join(web().dir, 'site-a', 'fullchain.pem'), siteA.serial),
      60_000,
      web().logs,
    );
    await waitFor(
      'edge-1 to install edge',
      () => hasSerial(join(edge1().dir, 'etc', 'edge', 'fullchain.pem'), edge.serial),
      60_000,
      edge1().logs,
    );
    expect(installed(edge1(), 'site-a')).toBeUndefined();

    // Every request the agents made went through the IAM gate on Roles Anywhere sessions.
    const decisions = gate.decisions();
    expect(new Set(decisions.map((d) => d.agent))).toEqual(new Set(['web-a', 'edge-1']));
    expect(decisions.filter((d) => d.decision !== 'Allowed')).toEqual([]);
    expect(standIn.sessions().map((s) => s.sourceIdentity)).toEqual(
      expect.arrayContaining(['web-a', 'edge-1']),
    );
  }, 150_000);

  it("agent web-a cannot read edge-1's delivery nor write its report: refused at its credentials' policy, and by the simulator", async () => {
    const credentials = await sessionOf(web(), 900);
    const s3 = new S3Client({
      endpoint: gate.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      maxAttempts: 1,
    });
    const dynamodb = new DynamoDBClient({
      endpoint: gate.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    defer(() => s3.destroy());
    defer(() => dynamodb.destroy());
    const edgeEntry = (await new DynamoAgentInboxes({
      client: stack.clients.dynamodb,
      tableName: agents.fleetTable,
    }).get('edge-1'))!.entries.edge!;
    const refused = async (p: Promise<unknown>) =>
      (await p.then(
        () => 'allowed',
        (e: { name?: string }) => e.name ?? 'error',
      )) as string;
    expect(await refused(s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: edgeEntry.key })))).toBe(
      'AccessDenied',
    );
    expect(
      await refused(
        dynamodb.send(
          new PutItemCommand({
            TableName: agents.fleetTable,
            Item: { pk: { S: 'report#edge-1' }, report: { S: '{}' } },
          }),
        ),
      ),
    ).toBe('AccessDeniedException');
    expect(
      await refused(
        s3.send(
          new GetObjectCommand({
            Bucket: stack.bucket,
            Key: `certificates/site-a/${(await manifestOf('site-a')).serial}/privkey.pem`,
          }),
        ),
      ),
    ).toBe('AccessDenied');
    // Its own: allowed, with the same credentials.
    const ownKey = (await new DynamoAgentInboxes({
      client: stack.clients.dynamodb,
      tableName: agents.fleetTable,
    }).get('web-a'))!.entries['site-a']!.key;
    expect(await refused(s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: ownKey })))).toBe(
      'allowed',
    );
    const denied = gate.decisions().filter((d) => d.decision !== 'Allowed');
    expect(denied.map((d) => `${d.agent} ${d.action} ${d.resource}`)).toEqual([
      `web-a s3:GetObject arn:aws:s3:::${stack.bucket}/${edgeEntry.key}`,
      `web-a dynamodb:PutItem arn:aws:dynamodb:us-east-1:123456789012:table/${agents.fleetTable}`,
      expect.stringMatching(
        new RegExp(
          `^web-a s3:GetObject arn:aws:s3:::${stack.bucket}/certificates/site-a/[0-9A-F]+/privkey\\.pem$`,
        ),
      ),
    ]);
  });

  it('a certificate labelled role=edge, added after the agents, reaches every edge agent and no other', async () => {
    const token = await addAgent('edge-2', ['--labels', 'role=edge']);
    expect((await joinRegistry(edge2(), token)).code).toBe(0);
    startAgent(edge2());
    await waitFor(
      'edge-2 to install edge',
      () => installed(edge2(), 'edge') !== undefined,
      60_000,
      edge2().logs,
    );
    await issue({ name: 'edge-late', labels: { role: 'edge' } });
    const late = await manifestOf('edge-late');
    for (const server of [edge1(), edge2()]) {
      await waitFor(
        `${server.name} to install edge-late`,
        () => hasSerial(join(server.dir, 'etc', 'edge-late', 'fullchain.pem'), late.serial),
        60_000,
        server.logs,
      );
    }
    expect(installed(web(), 'edge-late')).toBeUndefined();
    expect(existsSync(join(web().dir, 'etc', 'edge-late'))).toBe(false);
  }, 150_000);

  it('each agent renews its short identity itself, before it expires, with no operator action', async () => {
    const first = new X509Certificate(readFileSync(join(edge1().dir, 'identity', 'certificate.pem')));
    const lifetime = Date.parse(first.validTo) - Date.parse(first.validFrom);
    expect(lifetime).toBeLessThan((IDENTITY_SECONDS + 10) * 1000);
    await waitFor(
      'edge-1 to renew its identity',
      () =>
        new X509Certificate(readFileSync(join(edge1().dir, 'identity', 'certificate.pem'))).serialNumber !==
        first.serialNumber,
      (IDENTITY_SECONDS + 20) * 1000,
      edge1().logs,
    );
    const renewed = new X509Certificate(readFileSync(join(edge1().dir, 'identity', 'certificate.pem')));
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.parse(first.validTo));
    expect((await registry.get('edge-1'))!.identity!.serial).toBe(
      renewed.serialNumber.toLowerCase().replace(/^0+/, ''),
    );
    // And it goes on working on the new one: a renewal of its certificate still arrives.
    const before = (await manifestOf('edge')).serial;
    await issuer(
      sqsEvent([{ MessageId: 'renew-edge', Body: JSON.stringify(forcedRenewal('edge', new Date())) }]),
    );
    const after = (await manifestOf('edge')).serial;
    expect(after).not.toBe(before);
    await waitFor(
      'edge-1 to install the renewed edge',
      () => hasSerial(join(edge1().dir, 'etc', 'edge', 'fullchain.pem'), after),
      60_000,
      edge1().logs,
    );
  }, 150_000);

  it('the fleet loop watches registry agents: behind when one lags, recovered when it catches up', async () => {
    // Every agent reporting and on every current serial (edge-2 may still be installing
    // the renewal of the test before).
    await waitFor(
      'every agent to report, on the current serials',
      async () => {
        const { summary } = await tick();
        return summary.silent === 0 && summary.behind === 0 && summary.updating === 0;
      },
      60_000,
    );
    const steady = await tick();
    expect(steady.summary.behind).toBe(0);
    await stopAgent(web());
    const before = (await manifestOf('site-a')).serial;
    await issuer(
      sqsEvent([{ MessageId: 'renew-site-a', Body: JSON.stringify(forcedRenewal('site-a', new Date())) }]),
    );
    expect((await manifestOf('site-a')).serial).not.toBe(before);
    await new Promise((r) => setTimeout(r, 7000));
    const lagging = await tick();
    const target = lagging.events.find((e) => e.target?.id === 'web-a');
    expect(target?.type).toBe('certificate.deployment_lagging');
    startAgent(web());
    const renewed = (await manifestOf('site-a')).serial;
    await waitFor(
      'web-a to catch up',
      () => hasSerial(join(web().dir, 'site-a', 'fullchain.pem'), renewed),
      60_000,
      web().logs,
    );
    await waitFor(
      'the recovered event',
      async () =>
        (await tick()).events.some(
          (e) => e.type === 'certificate.deployment_recovered' && e.target?.id === 'web-a',
        ),
      30_000,
    );
  }, 150_000);

  it('after agent remove, its next request fails, its reports are ignored and counted, and the fleet view shows it removed', async () => {
    const removed = await operator(['agent', 'remove', 'edge-2', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    // The scheduler's tick publishes the CRL to Roles Anywhere.
    expect(await identityHandler({ action: 'publish-crl' })).toMatchObject({ published: true });
    const session = sessionOf(edge2());
    await expect(session).rejects.toMatchObject({ reason: 'certificate-revoked' });
    // Its deliveries and inbox are gone at once: nothing it could still read carries a certificate.
    expect(
      await new DynamoAgentInboxes({ client: stack.clients.dynamodb, tableName: agents.fleetTable }).get(
        'edge-2',
      ),
    ).toBeUndefined();
    // The agent still runs (its last session lives out its 15 minutes) and reports: ignored, counted.
    await new Promise((r) => setTimeout(r, 3000));
    const result = await tick();
    expect(result.removedReports).toBe(1);
    const view = JSON.parse(
      await (
        await stack.clients.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: 'fleet/status.json' }))
      ).Body!.transformToString(),
    ) as { agents: Record<string, { status: string }> };
    expect(view.agents['edge-2']?.status).toBe('removed');
    const list = json<{ name: string; status: string }[]>(await operator(['agent', 'list', '--json']));
    expect(list.find((a) => a.name === 'edge-2')?.status).toBe('removed');
  });

  it('a report written by someone else in the bucket (direct mode key) for an unknown agent is ignored, with why', async () => {
    await stack.clients.s3.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: 'agents/nobody/report.json', Body: '{"version":1}' }),
    );
    const result = await tick();
    expect(result.ignoredReports.find((i) => i.key.includes('nobody'))?.reason).toBe(
      'agent "nobody" is not in the registry and no certificate lists it',
    );
    await stack.clients.s3.send(
      new DeleteObjectCommand({ Bucket: stack.bucket, Key: 'agents/nobody/report.json' }),
    );
  });
});
