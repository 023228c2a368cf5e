/**
 * How long a renewal takes to reach a fleet: 10 agents on this machine, each in front of
 * its own nginx, one certificate issued from Pebble through the real scheduler and issuer
 * handlers on a stand-in stack (moto, DynamoDB Local), then renewals forced through the issuer.
 * For each renewal: the time from the manifest being stored to the new serial being served
 * by every nginx, event-driven (each agent long-polls its own SQS queue subscribed to the
 * events topic) and with events off (polling only). Not a test: it prints figures.
 *
 *   npm run bench:fleet   (npx tsx scripts/peers.ts run -- npx tsx bench/fleet.ts)
 *
 * "Stored" is when a HeadObject poll (every MANIFEST_POLL_MS) first sees the new manifest;
 * "served" is when a TLS handshake with that agent's nginx (every SERVED_POLL_MS) first
 * presents the new serial. The agents run in this process (as each host would run one),
 * the issuer too, all on this machine's cores with moto, Pebble and the 10 nginx.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { forcedRenewal } from '../shared/queue/queue.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createAgent } from '../agent/agent.js';
import { type AgentConfigInput, parseAgentConfig } from '../agent/config.js';
import { selfSignedCertificate } from '../agent/fallback.js';
import { handler as fleetHandler } from '../functions/fleet.js';
import { handler as issuer } from '../functions/issuer.js';
import { loadFleetStatus } from '../shared/fleet/monitor.js';
import { readServedCertificate, sameSerial } from '../shared/fleet/probe.js';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import type { Log } from '../shared/model/log.js';
import { parseCertificateSpec } from '../shared/model/spec.js';
import { manifestKey } from '../shared/store/layout.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import type { Manifest } from '../shared/store/store.js';
import { runTick, sqsEvent } from '../scripts/stand-in-stack/pipeline.js';
import type { StandInStack } from '../scripts/stand-in-stack/stack.js';
import { type Nginx, startNginx } from '../scripts/test-kit/nginx.js';
import { pebbleRoots, peers, uniqueName } from '../scripts/test-kit/peers.js';
import { useStandInStack } from '../scripts/test-kit/stack.js';
import { declareSpec } from '../shared/usecases/declare-certificates.js';

const AGENTS = 10;
const RENEWALS = 5;
/** Events off: how often each agent checks the bucket. */
const POLL_SECONDS = 10;
/** Event-driven: the periodic check, at the agent's default, so only the events count. */
const EVENT_MODE_POLL_SECONDS = 300;
const MANIFEST_POLL_MS = 20;
const SERVED_POLL_MS = 50;
const NAME = 'fleet';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const region = 'us-east-1';

interface Host {
  name: string;
  dir: string;
  fullchain: string;
  key: string;
  nginx: Nginx;
  queueUrl: string;
  marks: Mark[];
}

/** What an agent logged, when: the event arriving, the install done (served check passed). */
interface Mark {
  at: number;
  what: 'event' | 'installed';
  serial: string | undefined;
}

interface RunningAgent {
  stop(): Promise<void>;
}

interface Renewal {
  serial: string;
  /** ms from the manifest stored to each agent's nginx serving the serial, in host order. */
  perAgent: number[];
  /** ms from the issuer invoked to the manifest stored (ACME order, DNS-01, storage). */
  issueMs: number;
  /** ms from the manifest stored to each agent receiving the event (event-driven only). */
  eventMs: number[];
  /** ms from the manifest stored to each agent's install done (its own served check passed). */
  installedMs: number[];
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Polls until `test` yields a value; the time is taken just before the successful poll. */
async function until<T>(
  what: string,
  intervalMs: number,
  timeoutMs: number,
  test: () => Promise<T | undefined>,
): Promise<{ at: number; value: T }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const at = performance.now();
    const value = await test().catch(() => undefined);
    if (value !== undefined) return { at, value };
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

function nearestRank(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const began = performance.now();
  const zone = `${uniqueName('fleet')}.test`;
  const dnsName = `www.${zone}`;
  const stack = await useStandInStack('bench-fleet', [zone]);
  const moto = { endpoint: peers().motoEndpoint, region, credentials };
  const s3 = new S3Client({ ...moto, forcePathStyle: true });
  const sqs = new SQSClient(moto);
  const inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
  const work = mkdtempSync(join(tmpdir(), 'certkeeper-bench-fleet-'));
  const hosts: Host[] = [];
  const errors: string[] = [];
  let running: RunningAgent[] = [];
  try {
    const agentNames = Array.from({ length: AGENTS }, (_, i) => `bench-${i + 1}`);
    const spec = parseCertificateSpec({ name: NAME, identifiers: [dnsName] });
    spec.delivery = { agents: agentNames, probes: [], acmRegions: [] };
    await declareSpec(inventory, spec);
    const first = await runTick(stack.clients.sqs, stack.queueUrl);
    if (first.issuer.batchItemFailures.length || !(await inventory.get(NAME))?.state.current) {
      throw new Error(
        `the first issuance failed: ${JSON.stringify((await inventory.get(NAME))?.state.lastError)}`,
      );
    }

    const trustedCaFile = join(work, 'roots.pem');
    writeFileSync(trustedCaFile, (await pebbleRoots()).root);
    for (const name of agentNames) hosts.push(await startHost(name, work, stack, sqs, dnsName));

    const agentConfig = (host: Host, events: boolean): AgentConfigInput => ({
      name: host.name,
      bucket: stack.bucket,
      region,
      stateFile: join(host.dir, 'state.json'),
      trustedCaFile,
      certificates: { [NAME]: { fullchain: host.fullchain, key: host.key } },
      reload: { commands: [host.nginx.reloadCommand], timeoutSeconds: 15 },
      verify: { host: '127.0.0.1', port: host.nginx.httpsPort, timeoutSeconds: 15 },
      pollIntervalSeconds: events ? EVENT_MODE_POLL_SECONDS : POLL_SECONDS,
      ...(events ? { queueUrl: host.queueUrl } : {}),
    });
    /** Starts every agent; `spreadMs` staggers their starts, as hosts booted at other times. */
    const startAgents = async (events: boolean, spreadMs: number): Promise<RunningAgent[]> => {
      const started: RunningAgent[] = [];
      for (const [i, host] of hosts.entries()) {
        if (i > 0 && spreadMs > 0) await sleep(spreadMs / hosts.length);
        const config = parseAgentConfig(agentConfig(host, events), `${host.name} config`, host.dir);
        const agent = createAgent(config, { s3, log: markingLog(host.marks, errors) });
        const controller = new AbortController();
        const done = agent.run({ signal: controller.signal });
        started.push({
          stop: async () => {
            controller.abort();
            await done;
          },
        });
      }
      return started;
    };
    const servingEverywhere = async (serial: string, timeoutMs: number): Promise<number[]> =>
      Promise.all(
        hosts.map(async (host) => {
          const seen = await until(`${host.name} serving ${serial}`, SERVED_POLL_MS, timeoutMs, async () => {
            const served = await readServedCertificate(
              { host: '127.0.0.1', port: host.nginx.httpsPort, sni: dnsName },
              2000,
            );
            return sameSerial(served.serial, serial) ? true : undefined;
          });
          return seen.at;
        }),
      );
    const manifestOf = async (): Promise<{ etag: string; manifest: Manifest }> => {
      const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: manifestKey(NAME) }));
      const { Body } = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: manifestKey(NAME) }));
      return { etag: head.ETag!, manifest: JSON.parse(await Body!.transformToString()) as Manifest };
    };

    /** One forced renewal through the issuer handler, timed from the manifest to every server. */
    const renewOnce = async (timeoutMs: number): Promise<Renewal> => {
      const before = await manifestOf();
      const invoked = performance.now();
      const issuing = issuer(
        sqsEvent([{ MessageId: crypto.randomUUID(), Body: JSON.stringify(forcedRenewal(NAME, new Date())) }]),
      );
      const stored = await until('the new manifest', MANIFEST_POLL_MS, 120_000, async () => {
        const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: manifestKey(NAME) }));
        return head.ETag !== before.etag ? head.ETag : undefined;
      });
      const { manifest } = await manifestOf();
      const [served, response] = await Promise.all([servingEverywhere(manifest.serial, timeoutMs), issuing]);
      if (response.batchItemFailures.length) throw new Error('the issuer reported a failed renewal');
      const mark = (what: Mark['what']) =>
        hosts.flatMap((h) => {
          const m = h.marks.find((k) => k.what === what && k.serial === manifest.serial);
          return m ? [m.at - stored.at] : [];
        });
      return {
        serial: manifest.serial,
        perAgent: served.map((at) => at - stored.at),
        issueMs: stored.at - invoked,
        eventMs: mark('event'),
        installedMs: mark('installed'),
      };
    };

    const modes: { label: string; events: boolean; renewals: Renewal[] }[] = [];
    for (const events of [true, false]) {
      const current = (await manifestOf()).manifest.serial;
      running = await startAgents(events, events ? 0 : POLL_SECONDS * 1000);
      // Every agent's first check installs (or keeps) the current serial.
      await servingEverywhere(current, 60_000);
      const renewals: Renewal[] = [];
      for (let r = 0; r < RENEWALS; r++) {
        renewals.push(await renewOnce(events ? 60_000 : 3 * POLL_SECONDS * 1000 + 30_000));
      }
      await Promise.all(running.map((a) => a.stop()));
      running = [];
      modes.push({
        label: events ? 'event-driven (SQS long poll)' : `events off (poll every ${POLL_SECONDS} s)`,
        events,
        renewals,
      });
    }

    // The fleet Lambda on the last state: every agent's report names the current serial.
    const fleet = await fleetHandler();
    const view = await loadFleetStatus(new S3ObjectStore(s3, { bucket: stack.bucket }));
    const notOk = (view?.certificates[NAME]?.targets ?? []).filter((t) => t.health !== 'ok');

    console.log(
      `fleet delivery: ${AGENTS} agents, each with its own nginx, one certificate (${dnsName}, DNS-01 on Pebble), ${RENEWALS} forced renewals per mode`,
    );
    console.log(
      `  time from the manifest stored to the new serial served by every agent (HeadObject poll ${MANIFEST_POLL_MS} ms, TLS poll ${SERVED_POLL_MS} ms)`,
    );
    console.log(
      `  ${'mode'.padEnd(32)} ${'median'.padStart(9)} ${'p95'.padStart(9)} ${'max'.padStart(9)}   ${'per agent: median'.padStart(17)} ${'p95'.padStart(9)}   ${'issue (ACME)'.padStart(12)}`,
    );
    for (const mode of modes) {
      const all = mode.renewals.map((r) => Math.max(...r.perAgent));
      const each = mode.renewals.flatMap((r) => r.perAgent);
      const issue = mode.renewals.map((r) => r.issueMs);
      console.log(
        `  ${mode.label.padEnd(32)} ${seconds(nearestRank(all, 50)).padStart(9)} ${seconds(nearestRank(all, 95)).padStart(9)} ${seconds(Math.max(...all)).padStart(9)}   ${seconds(nearestRank(each, 50)).padStart(17)} ${seconds(nearestRank(each, 95)).padStart(9)}   ${seconds(nearestRank(issue, 50)).padStart(12)}`,
      );
      console.log(`  ${''.padEnd(32)} every agent, per renewal: ${all.map((ms) => seconds(ms)).join(', ')}`);
      const received = mode.renewals.flatMap((r) => r.eventMs);
      const installed = mode.renewals.flatMap((r) => r.installedMs);
      const spread = (values: number[]) =>
        `median ${seconds(nearestRank(values, 50))}, p95 ${seconds(nearestRank(values, 95))}`;
      if (received.length) console.log(`  ${''.padEnd(32)} per agent: event received ${spread(received)}`);
      if (installed.length) {
        console.log(`  ${''.padEnd(32)} per agent: install and served check done ${spread(installed)}`);
      }
    }
    const [eventDriven, polling] = modes.map((m) =>
      nearestRank(
        m.renewals.map((r) => Math.max(...r.perAgent)),
        50,
      ),
    );
    console.log(`  events off / event-driven (median): ${(polling! / eventDriven!).toFixed(1)}x`);
    console.log(
      `  p95 is the nearest rank over ${RENEWALS} renewals (the slowest of them); target: p95 under 5 s event-driven`,
    );
    console.log(
      `  fleet Lambda afterwards: ${fleet.summary.targets} targets, ${fleet.summary.ok} ok, ${fleet.summary.behind} behind, ${fleet.summary.silent} silent; ${fleet.ignoredReports.length} reports ignored`,
    );
    for (const t of notOk) {
      console.log(
        `    ${t.id}: ${t.health}, installed ${t.installedSerial ?? '-'}, serves ${t.servedSerial ?? '-'} (current ${view?.certificates[NAME]?.serial ?? '-'})`,
      );
    }
    console.log(`  agent errors logged: ${errors.length}${errors.length ? ` (first: ${errors[0]})` : ''}`);
  } finally {
    await Promise.all(running.map((a) => a.stop().catch(() => undefined)));
    await Promise.all(hosts.map((h) => h.nginx.stop().catch(() => undefined)));
    rmSync(work, { recursive: true, force: true });
    s3.destroy();
    sqs.destroy();
    stack.clients.s3.destroy();
  }
  console.log(`  total: ${seconds(performance.now() - began)}`);
}

/** A host: its nginx on a placeholder pair (nginx does not start without one) and its queue. */
async function startHost(
  name: string,
  work: string,
  stack: StandInStack,
  sqs: SQSClient,
  dnsName: string,
): Promise<Host> {
  const dir = join(work, name);
  const placeholder = await selfSignedCertificate([dnsName], new Date());
  const fullchain = join(dir, 'fullchain.pem');
  const key = join(dir, 'privkey.pem');
  mkdirSync(dir, { recursive: true });
  writeFileSync(fullchain, placeholder.certPem);
  writeFileSync(key, placeholder.keyPem, { mode: 0o600 });
  const nginx = await startNginx({ certPath: fullchain, keyPath: key });
  // As the stack makes it: a queue per agent, subscribed to the events topic, raw delivery.
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: `${stack.bucket.slice(0, 50)}-${name}` }));
  const arn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes!.QueueArn!;
  await stack.clients.sns.send(
    new SubscribeCommand({
      TopicArn: stack.topicArn,
      Protocol: 'sqs',
      Endpoint: arn,
      Attributes: { RawMessageDelivery: 'true' },
    }),
  );
  return { name, dir, fullchain, key, nginx, queueUrl: queue.QueueUrl!, marks: [] };
}

/** Keeps an agent's errors, and when it received an event and finished an install. */
function markingLog(marks: Mark[], errors: string[]): Log {
  return {
    debug: () => undefined,
    info: (message, extra) => {
      const at = performance.now();
      if (message === 'event received') marks.push({ at, what: 'event', serial: extra?.serial as string });
      const installed = /: installed serial ([0-9A-Fa-f]+)$/.exec(message);
      if (installed) marks.push({ at, what: 'installed', serial: installed[1] });
    },
    warn: () => undefined,
    error: (message, extra) => errors.push(`${message} ${JSON.stringify(extra ?? {})}`),
  };
}

await main();
