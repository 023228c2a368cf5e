/**
 * The fleet loop, end to end on the real peers: the scheduler and issuer issue from Pebble
 * into a stand-in stack; agents, each with its own nginx, install, reload and report to the
 * bucket; the fleet tick (the fleet Lambda's use case) reads the reports and probes
 * endpoints, and the events it publishes are the assertion, next to `certkeeper status`.
 * The lag period is crossed with a test clock, not by waiting.
 */
import { writeFileSync } from 'node:fs';
import { forcedRenewal } from '../../shared/queue/queue.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../agent/agent.js';
import { type AgentConfigInput, loadAgentConfig } from '../../agent/config.js';
import { handler as fleetHandler } from '../../functions/fleet.js';
import { handler as issuer } from '../../functions/issuer.js';
import { declareCertificate } from '../../shared/usecases/declare-certificates.js';
import { MemoryPublisher } from '../../shared/events/publisher.js';
import { type FleetTickResult, monitorFleet } from '../../shared/fleet/monitor.js';
import { agentReportKey, parseAgentReport } from '../../shared/fleet/report.js';
import { readServedCertificate, sameSerial } from '../../shared/fleet/probe.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { ManualClock, MINUTE } from '../../shared/model/clock.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import { silentLog } from '../../shared/model/log.js';
import { S3ObjectStore } from '../../shared/store/s3-store.js';
import { receiveAll, runTick, sqsEvent } from '../../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { freePorts } from '../../scripts/peers/ports.js';
import { certkeeper, json } from '../../scripts/test-kit/operator.js';
import { type Nginx, startNginx } from '../../scripts/test-kit/nginx.js';
import { uniqueName } from '../../scripts/test-kit/peers.js';
import { scratch, testRoots } from '../support/scratch.js';
import { pointHandlersAt, useStandInStack } from '../../scripts/test-kit/stack.js';
import type { TestCa } from '../support/test-ca.js';
import { declareSpec } from '../../shared/usecases/declare-certificates.js';

const ZONE = `${uniqueName('fleet')}.test`;
const LAG = 30 * MINUTE;

let stack: StandInStack;
let inventory: DynamoInventory;
let objects: S3ObjectStore;
let testCa: TestCa;
let trustedCaFile: string;
const { defer, tempDir, cleanUp } = scratch('fleet-e2e');

beforeAll(async () => {
  stack = await useStandInStack('fleet-e2e', [ZONE]);
  inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  objects = new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket });
  ({ testCa, trustedCaFile } = await testRoots(tempDir('ca')));
});

afterAll(async () => {
  await cleanUp();
  stack.clients.s3.destroy();
});

// --- issuing ------------------------------------------------------------------------------

/** Declares a DNS-01 certificate with its delivery targets and issues it in one tick. */
async function issue(
  name: string,
  delivery: { agents?: string[]; probes?: { host: string; port: number }[] },
): Promise<string> {
  const spec = await declareCertificate(inventory, { name, identifiers: [`${name}.${ZONE}`] });
  // The deployment config fills agents in from its `agents` list; here it is written directly.
  await declareSpec(inventory, {
    ...spec,
    delivery: { agents: delivery.agents ?? [], probes: delivery.probes ?? [], acmRegions: [] },
  });
  const tick = await runTick(stack.clients.sqs, stack.queueUrl);
  expect(tick.issuer.batchItemFailures).toEqual([]);
  return currentSerial(name);
}

async function currentSerial(name: string): Promise<string> {
  const state = (await inventory.get(name))?.state;
  expect(state?.lastError, `${name} was not issued`).toBeUndefined();
  return state!.current!.serial;
}

/** A forced renewal through the issuer handler: a new serial, stored now. */
async function renew(name: string): Promise<string> {
  const before = await currentSerial(name);
  const response = await issuer(
    sqsEvent([{ MessageId: name, Body: JSON.stringify(forcedRenewal(name, clock.now())) }]),
  );
  expect(response.batchItemFailures).toEqual([]);
  const after = await currentSerial(name);
  expect(after).not.toBe(before);
  return after;
}

// --- servers --------------------------------------------------------------------------------

interface Server {
  dir: string;
  fullchain: string;
  key: string;
  nginx: Nginx;
}

/** A server with a placeholder pair (nginx does not start without one) and its own nginx. */
async function server(identifier: string): Promise<Server> {
  const dir = tempDir('server');
  const fullchain = join(dir, 'fullchain.pem');
  const key = join(dir, 'privkey.pem');
  const { bundle } = await testCa.issue({ identifiers: [identifier] });
  writeFileSync(fullchain, bundle.fullchain);
  writeFileSync(key, bundle.privkey, { mode: 0o600 });
  const nginx = await startNginx({ certPath: fullchain, keyPath: key });
  defer(() => nginx.stop());
  return { dir, fullchain, key, nginx };
}

/** An agent as a server runs it (config file on disk), with `name` so it reports. */
function agentOn(host: Server, agentName: string, certificate: string, reload?: string) {
  const input: AgentConfigInput = {
    name: agentName,
    bucket: stack.bucket,
    region: 'us-east-1',
    stateFile: join(host.dir, `state-${agentName}.json`),
    trustedCaFile,
    // Long, so the agents that do run are never silent at the test clock's +31 minutes.
    pollIntervalSeconds: 3600,
    certificates: { [certificate]: { fullchain: host.fullchain, key: host.key } },
    reload: { commands: [reload ?? host.nginx.reloadCommand], timeoutSeconds: 15 },
    verify: { host: '127.0.0.1', port: host.nginx.httpsPort, timeoutSeconds: 30 },
  };
  const file = join(host.dir, `agent-${agentName}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(input));
  return createAgent(loadAgentConfig(file), { log: silentLog });
}

// --- the fleet tick -------------------------------------------------------------------------

const clock = new ManualClock(new Date());
const published = new MemoryPublisher();

/** One fleet tick at `offsetMs` after now; returns it and the events it published for `name`. */
async function fleetTick(
  name: string,
  offsetMs = 0,
): Promise<{ result: FleetTickResult; events: CertificateEvent[] }> {
  clock.set(new Date(Date.now() + offsetMs));
  const from = published.events.length;
  const result = await monitorFleet({
    inventory,
    objects,
    events: published,
    clock,
    log: silentLog,
    rules: { lagMs: LAG, silentIntervals: 3, expiringMs: 24 * 60 * MINUTE },
    // Generous: a loaded CI machine is slow to answer a handshake; closed ports fail at once.
    probeTimeoutMs: 15_000,
  });
  return { result, events: published.events.slice(from).filter((e) => e.certificate === name) };
}

const byAgent = (events: CertificateEvent[]) => events.map((e) => `${e.type} ${e.target?.id}`);

// --- the tests ----------------------------------------------------------------------------

describe('the fleet view', () => {
  it('two agents with their own nginx: one stops, is named once as lagging, catches up, recovers once', async () => {
    const name = 'shared';
    const identifier = `${name}.${ZONE}`;
    const [one, two] = [uniqueName('web'), uniqueName('web')];
    const first = await issue(name, { agents: [one, two] });
    const hosts = [await server(identifier), await server(identifier)];
    const agents = [agentOn(hosts[0]!, one, name), agentOn(hosts[1]!, two, name)];
    for (const agent of agents) expect((await agent.syncOnce()).certificates[0]!.action).toBe('installed');

    // Both reported what they installed and what their nginx serves: the issued serial.
    for (const agent of [one, two]) {
      const report = parseAgentReport((await objects.get(agentReportKey(agent)))!, agent);
      expect(report.certificates[name]).toMatchObject({ installedSerial: first, servedSerial: first });
      expect(report.agentVersion).toMatch(/^\d+\.\d+\.\d+/);
    }
    const healthy = await fleetTick(name);
    expect(healthy.events).toEqual([]);
    expect(healthy.result.summary).toMatchObject({ ok: expect.any(Number), behind: 0 });

    // Agent 2 stops; a renewal; agent 1 installs it.
    const second = await renew(name);
    expect((await agents[0]!.syncOnce()).certificates[0]!.action).toBe('installed');
    expect((await fleetTick(name, 5 * MINUTE)).events).toEqual([]); // inside the lag: updating

    const lagging = await fleetTick(name, LAG + MINUTE);
    expect(byAgent(lagging.events)).toEqual([`certificate.deployment_lagging ${two}`]);
    expect(lagging.events[0]).toMatchObject({
      serial: second,
      target: { kind: 'agent', id: two, health: 'behind', installedSerial: first, servedSerial: first },
    });
    expect((await fleetTick(name, LAG + 2 * MINUTE)).events).toEqual([]); // once, not every tick

    // `certkeeper status` shows the row and exits 1.
    const status = await certkeeper(['status', '--json'], stack.env);
    expect(status.code, status.stderr).toBe(1);
    const view = json<{ certificates: { name: string; targets: { id: string; health: string }[] }[] }>(
      status,
    );
    const targets = view.certificates.find((c) => c.name === name)!.targets;
    expect(targets.map((t) => `${t.id} ${t.health}`).sort()).toEqual([`${one} ok`, `${two} behind`].sort());
    const table = await certkeeper(['status'], stack.env);
    expect(table.code).toBe(1);
    // What an operator sees, kept in the test output.
    console.log(`certkeeper status, one server behind:\n${table.stdout}`);
    expect(table.stdout).toMatch(new RegExp(`${name}\\s+agent ${two}\\s+behind\\s+${first.slice(0, 16)}`));

    // Agent 2 is back: it installs the renewal, one recovered event.
    expect((await agents[1]!.syncOnce()).certificates[0]!.action).toBe('installed');
    const recovered = await fleetTick(name, LAG + 3 * MINUTE);
    expect(byAgent(recovered.events)).toEqual([`certificate.deployment_recovered ${two}`]);
    expect(recovered.events[0]!.target).toMatchObject({ installedSerial: second, servedSerial: second });
  });

  it('an agent whose reload always fails rolls back, and the lagging event carries its error', async () => {
    const name = 'stuck';
    const agentName = uniqueName('stuck');
    await issue(name, { agents: [agentName] });
    const host = await server(`${name}.${ZONE}`);
    expect((await agentOn(host, agentName, name).syncOnce()).certificates[0]!.action).toBe('installed');
    await renew(name);
    const broken = agentOn(
      host,
      agentName,
      name,
      'echo "nginx: [emerg] cannot load certificate" >&2; exit 1',
    );
    expect((await broken.syncOnce()).certificates[0]!.action).toBe('rolled-back');

    const { events } = await fleetTick(name, LAG + MINUTE);
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('certificate.deployment_lagging');
    expect(events[0]!.target!.error).toMatch(/rolled back.*cannot load certificate/s);
  });

  it('a probed endpoint with a certificate put there by hand is behind; fixed, it recovers', async () => {
    const name = 'probed';
    const identifier = `${name}.${ZONE}`;
    const host = await server(identifier); // the hand-installed (test CA) certificate
    const endpoint = { host: '127.0.0.1', port: host.nginx.httpsPort };
    await issue(name, { probes: [endpoint] });
    const { events, result } = await fleetTick(name, LAG + MINUTE);
    expect(events.map((e) => e.type)).toEqual(['certificate.deployment_lagging']);
    const handSerial = events[0]!.target!.servedSerial!;
    expect(handSerial).toBeDefined();
    expect(handSerial).not.toBe(await currentSerial(name));
    expect(result.summary.behind).toBeGreaterThan(0);

    // The operator installs the issued certificate by hand and reloads.
    const fixer = agentOn(host, uniqueName('fixer'), name);
    expect((await fixer.syncOnce()).certificates[0]).toMatchObject({ action: 'installed' });
    // nginx's reload is graceful: for a moment an old worker may still answer a new
    // handshake with the old certificate. Wait until handshakes settle on the new one (ten
    // in a row), so a later tick cannot meet a lingering old worker; then the next ticks
    // see the fix, and it is announced once.
    await servedSteadily(endpoint, await currentSerial(name));
    const seen: string[] = [];
    for (let tick = 2; tick < 12 && seen.length === 0; tick++) {
      const { events: later } = await fleetTick(name, LAG + tick * MINUTE);
      seen.push(...later.map((e) => `${e.type} ${e.target?.kind}`));
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 500));
    }
    expect(seen).toEqual(['certificate.deployment_recovered probe']);
    expect((await fleetTick(name, LAG + 13 * MINUTE)).events).toEqual([]);
  });

  it('a probe to a closed port is unreachable with the error, alerted once through SNS by the fleet Lambda', async () => {
    const name = 'closed';
    const { closed: port } = await freePorts({ closed: 'tcp' });
    await issue(name, { probes: [{ host: '127.0.0.1', port }] });
    await receiveAll(stack.clients.sqs, stack.tapQueueUrl); // the issued event, not under test

    // The Lambda handler, as the tick rule invokes it, publishing to the events topic.
    clock.set(new Date(Date.now() + MINUTE));
    pointHandlersAt(stack.env, { clock });
    try {
      const result = await fleetHandler();
      expect(result.summary.unreachable).toBeGreaterThan(0);
      const sent = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl))
        .map((m) => ({
          body: JSON.parse(m.Body!) as CertificateEvent,
          type: (JSON.parse(m.Body!) as CertificateEvent).type,
        }))
        .filter((m) => m.body.certificate === name);
      expect(sent.map((m) => m.type)).toEqual(['certificate.deployment_lagging']);
      expect(sent[0]!.body.target).toMatchObject({
        kind: 'probe',
        id: `127.0.0.1:${port}`,
        health: 'unreachable',
      });
      expect(sent[0]!.body.target!.error).toMatch(/closed: .*connection refused/);
      // The next tick: still unreachable, nothing new.
      clock.set(new Date(Date.now() + 2 * MINUTE));
      await fleetHandler();
      const again = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).filter(
        (m) => (JSON.parse(m.Body!) as CertificateEvent).certificate === name,
      );
      expect(again).toEqual([]);
    } finally {
      pointHandlersAt(stack.env);
    }
  });
});

/** Resolves once ten handshakes in a row present `serial` (a graceful reload has finished). */
async function servedSteadily(endpoint: { host: string; port: number }, serial: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (let inARow = 0; inARow < 10;) {
    const served = await readServedCertificate(endpoint, 2_000).catch(() => undefined);
    inARow = served && sameSerial(served.serial, serial) ? inARow + 1 : 0;
    if (Date.now() > deadline)
      throw new Error(`${endpoint.host}:${endpoint.port} did not settle on serial ${serial}`);
    if (inARow === 0) await new Promise((r) => setTimeout(r, 100));
  }
}
