/**
 * The agent against the stand-in stack: a registry agent's inbox on a fleet table in
 * DynamoDB Local, its sealed envelopes in S3 on moto written by the deliver use case, and
 * the HTTP-01 responder reading the bucket. The clients come from the environment, as on a
 * server (AWS_ENDPOINT_URL and CERTKEEPER_S3_FORCE_PATH_STYLE, set by useStandInStack);
 * credentials through Roles Anywhere are test/e2e/registry.test.ts's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, AddressInUseError, createAgent, startAgentHttp01 } from '../../agent/agent.js';
import { parseAgentConfig } from '../../agent/config.js';
import { DynamoAgentRegistry } from '../../shared/agents/dynamodb.js';
import { DynamoAgentInboxes } from '../../shared/agents/inbox-dynamodb.js';
import { createFleetTable } from '../../shared/dynamo/fleet-table.js';
import { DynamoInventory } from '../../shared/inventory/dynamodb.js';
import { systemClock } from '../../shared/model/clock.js';
import {
  type DeliveryDeps,
  deliverCertificate,
  deliverToAgent,
} from '../../shared/usecases/deliver-certificates.js';
import { http01Key } from '../../shared/store/layout.js';
import { S3CertificateStore, S3ObjectStore } from '../../shared/store/s3-store.js';
import type { StandInStack } from '../../scripts/stand-in-stack/stack.js';
import { useStandInStack } from '../../scripts/test-kit/stack.js';
import { createTestCa, type IssuedBundle, recordIssued, type TestCa } from '../support/test-ca.js';
import { recordingLog } from '../support/agent-host.js';
import { joinedTestAgent, testAgentCa } from '../support/registry-agent.js';

const IDS = ['agent-int.example.test', '127.0.0.1'];

let stack: StandInStack;
let ca: TestCa;
let store: S3CertificateStore;
let objects: S3ObjectStore;

beforeAll(async () => {
  stack = await useStandInStack('agent-int');
  ca = await createTestCa();
  store = new S3CertificateStore(stack.clients.s3, { bucket: stack.bucket, kmsKeyId: stack.kmsKeyId });
  objects = new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket });
});

afterAll(() => stack.clients.s3.destroy());

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

describe('a registry agent on its inbox', () => {
  let agent: Agent;
  let running: Promise<void>;
  let delivery: DeliveryDeps;
  let inboxes: DynamoAgentInboxes;
  let identityFleetTable: string;
  const stop = new AbortController();
  const logs: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-agent-int-'));
  const fullchain = join(dir, 'etc', 'agent-int', 'fullchain.pem');
  const reloads = join(dir, 'reloads.log');

  beforeAll(async () => {
    writeFileSync(join(dir, 'root.pem'), ca.rootPem);
    const fleetTable = `${stack.table}-fleet`;
    identityFleetTable = fleetTable;
    await createFleetTable(stack.clients.dynamodb, fleetTable);
    const registry = new DynamoAgentRegistry({ client: stack.clients.dynamodb, tableName: stack.table });
    inboxes = new DynamoAgentInboxes({ client: stack.clients.dynamodb, tableName: fleetTable });
    delivery = {
      registry,
      inventory: new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table }),
      store,
      objects: new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket, kmsKeyId: stack.kmsKeyId }),
      inboxes,
      clock: systemClock,
      log: recordingLog([]),
    };
    const identity = await joinedTestAgent({
      registry,
      ca: await testAgentCa(),
      name: 'int-1',
      selector: { certificates: [], labels: { role: 'int' } },
      dir,
      fleetTable,
    });
    const config = parseAgentConfig(
      {
        name: 'int-1',
        bucket: stack.bucket,
        identity,
        // An hour: within this test only the inbox (polled every second) makes the agent act.
        pollIntervalSeconds: 3600,
        eventPollSeconds: 1,
        trustedCaFile: 'root.pem',
        stateFile: 'state.json',
        certificatesDirectory: 'etc',
        reload: { commands: [`echo "$CERTKEEPER_SERIAL" >> '${reloads}'`] },
      },
      'integration config',
      dir,
    );
    agent = createAgent(config, {
      log: recordingLog(logs),
      registry: { inboxes, objects: delivery.objects },
    });
    running = agent.run({ signal: stop.signal });
  });

  afterAll(async () => {
    stop.abort();
    await running;
  });

  /** What the issuer leaves: the serial's files and manifest, the state naming it current. */
  const issue = async (issued: IssuedBundle, labels = { role: 'int' }): Promise<void> => {
    await recordIssued(
      { inventory: delivery.inventory, store },
      { name: 'agent-int', identifiers: IDS, labels },
      issued,
    );
    expect((await deliverCertificate(delivery, 'agent-int')).failed).toEqual([]);
  };

  const installed = (): string | undefined => {
    try {
      return readFileSync(fullchain, 'utf8');
    } catch {
      return undefined;
    }
  };

  it('installs what its inbox names as soon as it changes, and the next serial on the next change', async () => {
    const first = await ca.issue({ identifiers: IDS });
    await issue(first);
    await until('the first serial on disk', () => installed() === first.bundle.fullchain);

    const second = await ca.issue({ identifiers: IDS });
    await issue(second);
    await until('the second serial on disk', () => installed() === second.bundle.fullchain);
    const reloaded = () => readFileSync(reloads, 'utf8').split('\n').filter(Boolean);
    await until('the second reload', () => reloaded().length >= 2);
    expect(reloaded()).toEqual([first.serial, second.serial]);
    expect(logs.filter((l) => /INFO inbox changed/.test(l)).length).toBeGreaterThanOrEqual(2);
  });

  it('refuses an envelope that is not the one its inbox names, keeping what it has, until it is delivered anew; never goes back', async () => {
    // A second agent, checked by hand (not running), so the test decides when it looks.
    const dir2 = mkdtempSync(join(tmpdir(), 'certkeeper-agent-int2-'));
    writeFileSync(join(dir2, 'root.pem'), ca.rootPem);
    const identity = await joinedTestAgent({
      registry: delivery.registry,
      ca: await testAgentCa(),
      name: 'int-2',
      selector: { certificates: ['agent-int'], labels: {} },
      dir: dir2,
      fleetTable: identityFleetTable,
    });
    const config = parseAgentConfig(
      {
        name: 'int-2',
        bucket: stack.bucket,
        identity,
        trustedCaFile: 'root.pem',
        stateFile: 'state.json',
        certificatesDirectory: 'etc',
      },
      'integration config 2',
      dir2,
    );
    const logs2: string[] = [];
    const second = createAgent(config, {
      log: recordingLog(logs2),
      registry: { inboxes, objects: delivery.objects },
    });
    const onDisk = () => readFileSync(join(dir2, 'etc', 'agent-int', 'fullchain.pem'), 'utf8');

    const current = await ca.issue({ identifiers: IDS });
    await issue(current);
    expect((await second.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: current.serial,
    });

    // A bucket writer replaces the next envelope: the inbox (which it cannot write) still names the first's SHA-256.
    const next = await ca.issue({ identifiers: IDS });
    await issue(next);
    const entry = (await inboxes.get('int-2'))!.entries['agent-int']!;
    const sealed = (await delivery.objects.get(entry.key))!;
    await delivery.objects.put(entry.key, sealed.replace('{"version":1,', '{"version":1, '));
    const refused = (await second.syncOnce()).certificates[0]!;
    expect(refused.action).toBe('refused');
    expect(refused.error).toMatch(/is not the envelope the inbox names \(SHA-256 differs\)/);
    expect(onDisk()).toBe(current.bundle.fullchain);

    // The fleet tick sees the refusal in the agent's report and asks for its delivery:
    // everything sealed and written anew, and the next check installs it.
    const report = new Map([
      [
        'int-2',
        { certificates: { 'agent-int': { lastAction: 'refused', installedSerial: current.serial } } },
      ],
    ]);
    const { staleInboxes } = await import('../../shared/fleet/stale-inboxes.js');
    expect((await staleInboxes(delivery, report as never)).stale).toContain('int-2');
    await deliverToAgent(delivery, 'int-2');
    expect((await second.syncOnce()).certificates[0]).toMatchObject({
      action: 'installed',
      serial: next.serial,
    });

    // An older certificate issued as any other (an old manifest restored, say) never
    // reaches the inbox: delivery does not hand an agent something older than it has.
    const older = await ca.issue({ identifiers: IDS, notBefore: new Date(Date.now() - 2 * 86_400_000) });
    await issue(older);
    expect((await inboxes.get('int-2'))!.entries['agent-int']!.serial).toBe(next.serial);
    expect((await second.syncOnce()).certificates[0]).toMatchObject({
      action: 'unchanged',
      serial: next.serial,
    });
  });

  it('stops promptly when aborted between two polls', async () => {
    const started = Date.now();
    stop.abort();
    await running;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(logs.at(-1)).toMatch(/INFO agent stopped/);
  });
});

describe('the HTTP-01 responder', () => {
  it('serves a token from the bucket at /.well-known/acme-challenge/ and nothing else', async () => {
    const responder = await startAgentHttp01({ http01Listen: { host: '127.0.0.1', port: 0 } }, objects);
    try {
      const base = `http://127.0.0.1:${responder.address.port}`;
      const token = `agentint${Date.now().toString(36)}abcdefghij`;
      await objects.put(http01Key(token), `${token}.thumbprint`);
      const res = await fetch(`${base}/.well-known/acme-challenge/${token}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`${token}.thumbprint`);
      expect((await fetch(`${base}/.well-known/acme-challenge/${token}x`)).status).toBe(404);
      expect((await fetch(`${base}/certificates/agent-int/current.json`)).status).toBe(404);
      expect((await fetch(`${base}/`)).status).toBe(404);
    } finally {
      await responder.close();
    }
  });

  it('with its port taken, says how to run behind nginx or Caddy on another port', async () => {
    const holder: Server = createServer();
    await new Promise<void>((done) => holder.listen(0, '127.0.0.1', done));
    const port = (holder.address() as { port: number }).port;
    try {
      const error = await startAgentHttp01({ http01Listen: { host: '127.0.0.1', port } }, objects).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(AddressInUseError);
      const text = (error as AddressInUseError).describe();
      expect(text).toContain(`http01Listen: 127.0.0.1:${port} is already in use`);
      expect(text).toContain('location /.well-known/acme-challenge/ { proxy_pass http://127.0.0.1:8402; }');
      expect(text).toContain('handle /.well-known/acme-challenge/* { reverse_proxy 127.0.0.1:8402 }');
      expect(text).toContain('"http01Listen": "127.0.0.1:8402"');
    } finally {
      await new Promise((done) => holder.close(done));
    }
  });
});
